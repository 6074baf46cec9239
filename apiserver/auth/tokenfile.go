package auth

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// LoadTokenFile reads a Kubernetes static token file (--token-auth-file):
// CSV records "token,user,uid[,"group1,group2"]". Blank lines and lines
// starting with '#' are ignored; fields are trimmed of surrounding spaces;
// columns after the fourth are ignored. Errors wrap ErrInvalidTokenFile and
// name the file and line. Unlike kube-apiserver, which only warns, an empty
// or duplicate token is an error.
func LoadTokenFile(path string) (map[string]User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: open token file: %w", err)
	}
	defer f.Close()
	return ParseTokenFile(f, path)
}

// ParseTokenFile parses static token file content read from r; name is used
// in error messages.
func ParseTokenFile(r io.Reader, name string) (map[string]User, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	tokens := map[string]User{}
	seen := map[string]int{}
	first := true
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return tokens, nil
		}
		if err != nil {
			// csv.ParseError names the line and column.
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidTokenFile, name, err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			record[0] = strings.TrimPrefix(record[0], "\ufeff")
			first = false
		}
		for i := range record {
			record[i] = strings.TrimSpace(record[i])
		}
		if len(record) == 1 && record[0] == "" {
			continue // whitespace-only line
		}
		if len(record) < 3 {
			return nil, fmt.Errorf("%w: %s line %d: want at least 3 columns (token, user name, uid), found %d", ErrInvalidTokenFile, name, line, len(record))
		}
		token, user, uid := record[0], record[1], record[2]
		if token == "" {
			return nil, fmt.Errorf("%w: %s line %d: empty token", ErrInvalidTokenFile, name, line)
		}
		if user == "" {
			return nil, fmt.Errorf("%w: %s line %d: empty user name", ErrInvalidTokenFile, name, line)
		}
		if prev, dup := seen[token]; dup {
			return nil, fmt.Errorf("%w: %s line %d: duplicate token (first on line %d)", ErrInvalidTokenFile, name, line, prev)
		}
		seen[token] = line
		u := User{Name: user, UID: uid}
		if len(record) >= 4 {
			for g := range strings.SplitSeq(record[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		tokens[token] = u
	}
}
