package overview

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
)

// age says how long ago as kubectl and `cairn get` do: 45s, 4m30s, 42m,
// 3h12m, 5d. A time slightly ahead (clock skew) is "0s".
func age(d time.Duration) string {
	return duration.HumanDuration(max(d, 0))
}

// count writes n with thousands separators: 10,000 reads at a glance.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// percent is a fraction as a whole percentage, right-aligned in 4 columns.
func percent(f float64) string {
	return fmt.Sprintf("%3d%%", int(math.Round(f*100)))
}

// barWidth is how many cells a usage bar takes.
const barWidth = 10

// bar draws a fraction as a row of cells; past 1 it stays full.
func bar(f float64, unicode bool) string {
	full, empty := "#", "."
	if unicode {
		full, empty = "█", "░"
	}
	n := int(math.Round(math.Max(0, math.Min(1, f)) * barWidth))
	return strings.Repeat(full, n) + strings.Repeat(empty, barWidth-n)
}

// loadStyle colours a bar: fine, getting full, full.
func loadStyle(f float64) style {
	switch {
	case f >= 0.95:
		return bad
	case f >= 0.8:
		return warn
	}
	return good
}

func pad(s string, n int) string {
	if k := len([]rune(s)); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return count(n) + " " + many
}
