package view

import (
	"regexp"

	"k8s.io/apimachinery/pkg/api/resource"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
