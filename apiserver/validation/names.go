package validation

import (
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	v1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Names and label keys are checked by hand first: a value that passes
// needs no regular expression, and one that does not gets apimachinery's
// own messages. Each valid* function accepts exactly what apimachinery's
// check accepts (names_test.go compares them).

// validDNS1123Label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
func validDNS1123Label(s string) bool {
	return len(s) <= validation.DNS1123LabelMaxLength && dnsLabelPart(s)
}

// dnsLabelPart is dns1123LabelFmt without the length limit.
func dnsLabelPart(s string) bool {
	if s == "" || !lowerAlnum(s[0]) || !lowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !lowerAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// validDNS1123Subdomain: labels joined by dots, at most 253 characters.
func validDNS1123Subdomain(s string) bool {
	if len(s) > validation.DNS1123SubdomainMaxLength {
		return false
	}
	for {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return dnsLabelPart(s)
		}
		if !dnsLabelPart(s[:i]) {
			return false
		}
		s = s[i+1:]
	}
}

// validLabelKey: a qualified name, with an optional DNS subdomain prefix
// and "/".
func validLabelKey(s string) bool {
	name := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		prefix := s[:i]
		name = s[i+1:]
		if prefix == "" || strings.IndexByte(name, '/') >= 0 || !validDNS1123Subdomain(prefix) {
			return false
		}
	}
	return name != "" && len(name) <= validation.LabelValueMaxLength && qualifiedPart(name)
}

// validLabelValue: empty, or ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] of at
// most 63 characters.
func validLabelValue(s string) bool {
	return s == "" || len(s) <= validation.LabelValueMaxLength && qualifiedPart(s)
}

// qualifiedPart is ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] without the
// length limit.
func qualifiedPart(s string) bool {
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func lowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func alnum(c byte) bool { return lowerAlnum(c) || c >= 'A' && c <= 'Z' }

// The checks below return what the apimachinery functions of the same
// name return.

func nameIsDNSSubdomain(name string, prefix bool) []string {
	if !prefix && validDNS1123Subdomain(name) {
		return nil
	}
	return apimachineryvalidation.NameIsDNSSubdomain(name, prefix)
}

func nameIsDNSLabel(name string, prefix bool) []string {
	if !prefix && validDNS1123Label(name) {
		return nil
	}
	return apimachineryvalidation.NameIsDNSLabel(name, prefix)
}

func isDNS1123Label(s string) []string {
	if validDNS1123Label(s) {
		return nil
	}
	return validation.IsDNS1123Label(s)
}

func isDNS1123Subdomain(s string) []string {
	if validDNS1123Subdomain(s) {
		return nil
	}
	return validation.IsDNS1123Subdomain(s)
}

func isQualifiedName(s string) []string {
	if validLabelKey(s) {
		return nil
	}
	return validation.IsQualifiedName(s)
}

// validateLabels is v1validation.ValidateLabels.
func validateLabels(labels map[string]string, fldPath *field.Path) field.ErrorList {
	for k, v := range labels {
		if !validLabelKey(k) || !validLabelValue(v) {
			return v1validation.ValidateLabels(labels, fldPath)
		}
	}
	return field.ErrorList{}
}

// validateLabelName is v1validation.ValidateLabelName.
func validateLabelName(name string, fldPath *field.Path) field.ErrorList {
	if validLabelKey(name) {
		return field.ErrorList{}
	}
	return v1validation.ValidateLabelName(name, fldPath)
}
