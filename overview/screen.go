package overview

import (
	"io"
	"strings"
	"unicode/utf8"
)

// style is what a span of text means; the writer decides what that looks
// like (a colour on a terminal, nothing in a pipe).
type style uint8

const (
	plain style = iota
	good
	bad
	warn
	dim
	heading
)

var ansi = map[style]string{good: "\x1b[32m", bad: "\x1b[31m", warn: "\x1b[33m", dim: "\x1b[2m", heading: "\x1b[1m"}

const ansiReset = "\x1b[0m"

type span struct {
	text string
	st   style
}

// screen collects lines as styled spans, so lines can be cut to the
// terminal's width without cutting an escape sequence in half.
type screen struct {
	opt   Options
	lines [][]span
}

func (s *screen) add(spans ...span) { s.lines = append(s.lines, spans) }

func (s *screen) blank() { s.lines = append(s.lines, nil) }

func txt(text string) span              { return span{text: text} }
func styled(st style, text string) span { return span{text: text, st: st} }

// write prints the lines, each cut to the width with an ellipsis.
func (s *screen) write(w io.Writer) error {
	var b strings.Builder
	for _, l := range s.lines {
		room := s.opt.Width
		for i, sp := range l {
			if room <= 0 {
				break
			}
			text := strings.TrimRight(sp.text, " ")
			if i < len(l)-1 {
				text = sp.text
			}
			if n := utf8.RuneCountInString(text); n > room {
				text = cut(text, room, s.opt.Unicode)
			}
			room -= utf8.RuneCountInString(text)
			if body := strings.TrimRight(text, " "); s.opt.Color && ansi[sp.st] != "" && body != "" {
				// Padding stays uncoloured, so underlines and
				// backgrounds never spill into the gaps.
				b.WriteString(ansi[sp.st] + body + ansiReset + text[len(body):])
			} else {
				b.WriteString(text)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cut shortens text to n runes, the last of them an ellipsis.
func cut(text string, n int, unicode bool) string {
	ell := "..."
	if unicode {
		ell = "…"
	}
	keep := n - utf8.RuneCountInString(ell)
	if keep <= 0 {
		return string([]rune(text)[:n])
	}
	return string([]rune(text)[:keep]) + ell
}
