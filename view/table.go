package view

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TableOptions say how a server Table is printed.
type TableOptions struct {
	// Wide shows the columns with priority above 0 (-o wide).
	Wide bool
	// NoHeaders leaves the header line out.
	NoHeaders bool
	// WithNamespace adds a NAMESPACE column, read from each row's object
	// metadata, because the server's columns never carry it (-A).
	WithNamespace bool
	// NamePrefix ("pod", "deployment.apps") is put before every name, as
	// kubectl does when one listing mixes several kinds.
	NamePrefix string
	// Color highlights states (only for terminals).
	Color bool
}

// TableCells turns a server Table into the header and the rows of text
// cells to print: hidden columns dropped, cells formatted as kubectl
// formats them.
func TableCells(t *metav1.Table, o TableOptions) (header []string, rows [][]string) {
	var keep []int
	nameCol := -1
	for i, c := range t.ColumnDefinitions {
		if c.Priority > 0 && !o.Wide {
			continue
		}
		if nameCol < 0 && (c.Format == "name" || strings.EqualFold(c.Name, "name")) {
			nameCol = i
		}
		keep = append(keep, i)
	}
	if o.WithNamespace {
		header = append(header, "NAMESPACE")
	}
	for _, i := range keep {
		header = append(header, strings.ToUpper(t.ColumnDefinitions[i].Name))
	}
	for _, r := range t.Rows {
		var row []string
		if o.WithNamespace {
			row = append(row, rowNamespace(r))
		}
		for _, i := range keep {
			var cell any
			if i < len(r.Cells) {
				cell = r.Cells[i]
			}
			s := cellText(cell)
			if i == nameCol && o.NamePrefix != "" {
				s = o.NamePrefix + "/" + s
			}
			row = append(row, s)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// rowNamespace reads the namespace from a row's embedded object metadata.
func rowNamespace(r metav1.TableRow) string {
	var m struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if len(r.Object.Raw) > 0 && json.Unmarshal(r.Object.Raw, &m) == nil {
		return m.Metadata.Namespace
	}
	if a, ok := r.Object.Object.(metav1.Object); ok {
		return a.GetNamespace()
	}
	return ""
}

// cellText formats a cell as kubectl does: strings cut at the first line
// break (marked "..."), everything else with its default format.
func cellText(cell any) string {
	switch v := cell.(type) {
	case nil:
		return ""
	case string:
		if i := strings.IndexAny(v, "\f\n\r"); i >= 0 {
			return v[:i] + "..."
		}
		return v
	case json.Number:
		return v.String()
	case float64:
		if v == float64(int64(v)) {
			return fmt.Sprint(int64(v))
		}
		return fmt.Sprint(v)
	default:
		return fmt.Sprint(v)
	}
}

// WriteTable prints a server Table as kubectl does.
func WriteTable(w io.Writer, t *metav1.Table, o TableOptions) error {
	header, rows := TableCells(t, o)
	if o.NoHeaders {
		header = nil
	}
	return WriteAligned(w, header, rows, o.Color)
}

// WriteAligned prints rows in columns the way kubectl's tab writer does
// (each column as wide as its widest cell plus three spaces, at least
// six; the last column unpadded). Widths are measured on the plain text,
// so colours do not disturb the alignment.
func WriteAligned(w io.Writer, header []string, rows [][]string, color bool) error {
	all := rows
	if header != nil {
		all = append([][]string{header}, rows...)
	}
	var widths []int
	for _, r := range all {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], textWidth(c)+3, 6)
		}
	}
	var b strings.Builder
	for n, r := range all {
		isHeader := header != nil && n == 0
		for i, c := range r {
			text := c
			if color {
				text = paint(c, isHeader)
			}
			b.WriteString(text)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-textWidth(c)))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func textWidth(s string) int { return len([]rune(s)) }
