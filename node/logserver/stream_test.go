package logserver

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func writeLog(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestStreamTailAndLimit(t *testing.T) {
	long := strings.Repeat("x", 3*tailBlock+17) + "\n"
	for _, tc := range []struct {
		name  string
		data  string
		tail  int64
		limit int64
		want  string
	}{
		{"all", "a\nb\nc\n", -1, 0, "a\nb\nc\n"},
		{"empty file", "", -1, 0, ""},
		{"tail 0", "a\nb\nc\n", 0, 0, ""},
		{"tail 1", "a\nb\nc\n", 1, 0, "c\n"},
		{"tail 2", "a\nb\nc\n", 2, 0, "b\nc\n"},
		{"tail more than lines", "a\nb\nc\n", 10, 0, "a\nb\nc\n"},
		{"tail exactly the lines", "a\nb\nc\n", 3, 0, "a\nb\nc\n"},
		{"unterminated last line", "a\nb\nc", 1, 0, "c"},
		{"unterminated last line, tail 2", "a\nb\nc", 2, 0, "b\nc"},
		{"empty lines count", "a\n\n\n", 2, 0, "\n\n"},
		{"tail over block boundaries", "first\n" + long + long + "last\n", 3, 0, long + long + "last\n"},
		{"tail of a long file", strings.Repeat("line\n", 100000), 2, 0, "line\nline\n"},
		{"limit", "a\nb\nc\n", -1, 3, "a\nb"},
		{"limit beyond the file", "a\nb\n", -1, 100, "a\nb\n"},
		{"tail then limit", "a\nbb\nccc\n", 2, 4, "bb\nc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := open(t, writeLog(t, tc.data))
			var out bytes.Buffer
			err := Stream(context.Background(), &out, f, StreamOptions{TailLines: tc.tail, LimitBytes: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("got %q, want %q", trim(out.String()), trim(tc.want))
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-40:]
	}
	return s
}

// syncBuffer is a buffer a follow writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// follow starts a follow of path and returns its output and its end.
func follow(t *testing.T, ctx context.Context, path string, opts StreamOptions) (*syncBuffer, chan error) {
	t.Helper()
	f := open(t, path)
	out := &syncBuffer{}
	done := make(chan error, 1)
	opts.Follow, opts.PollInterval = true, 5*time.Millisecond
	go func() { done <- Stream(ctx, out, f, opts) }()
	return out, done
}

func waitEnd(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the follow did not end")
		return nil
	}
}

func TestFollowStreamsAppendedLinesAndEndsOnRotation(t *testing.T) {
	path := writeLog(t, "one\ntwo\n")
	var rotated atomic.Bool
	out, done := follow(t, context.Background(), path, StreamOptions{TailLines: 1, Current: func() bool { return !rotated.Load() }})
	waitFor(t, "the tail", func() bool { return out.String() == "two\n" })
	appendTo(t, path, "three\n")
	waitFor(t, "the appended line", func() bool { return out.String() == "two\nthree\n" })
	appendTo(t, path, "par")
	appendTo(t, path, "tial\n")
	waitFor(t, "a line written in two parts", func() bool { return out.String() == "two\nthree\npartial\n" })
	// The container restarts: its last words, then the new attempt.
	appendTo(t, path, "bye\n")
	rotated.Store(true)
	if err := waitEnd(t, done); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "two\nthree\npartial\nbye\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFollowEndsWhenTheFileGoes(t *testing.T) {
	for _, tc := range []struct {
		name string
		gone func(t *testing.T, path string)
	}{
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced", func(t *testing.T, path string) {
			next := path + ".next"
			if err := os.WriteFile(next, []byte("other\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(next, path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLog(t, "a\n")
			out, done := follow(t, context.Background(), path, StreamOptions{TailLines: -1})
			waitFor(t, "the log", func() bool { return out.String() == "a\n" })
			tc.gone(t, path)
			if err := waitEnd(t, done); err != nil {
				t.Fatal(err)
			}
			if out.String() != "a\n" {
				t.Fatalf("got %q", out.String())
			}
		})
	}
}

func TestFollowStopsWithTheContextAndAtTheLimit(t *testing.T) {
	path := writeLog(t, "a\n")
	ctx, cancel := context.WithCancel(context.Background())
	out, done := follow(t, ctx, path, StreamOptions{TailLines: -1})
	waitFor(t, "the log", func() bool { return out.String() == "a\n" })
	cancel()
	if err := waitEnd(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}

	out, done = follow(t, context.Background(), path, StreamOptions{TailLines: -1, LimitBytes: 5})
	waitFor(t, "the log", func() bool { return out.String() == "a\n" })
	appendTo(t, path, "bcdef\n")
	if err := waitEnd(t, done); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a\nbcd" {
		t.Fatalf("got %q, want the first 5 bytes", out.String())
	}
}

// FuzzTailStart compares tailStart with splitting the whole file.
func FuzzTailStart(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), int64(1))
	f.Add([]byte("a\nb\nc"), int64(2))
	f.Add([]byte("\n\n\n"), int64(0))
	f.Add([]byte(""), int64(3))
	f.Fuzz(func(t *testing.T, data []byte, n int64) {
		if n < 0 || n > 1<<20 {
			return
		}
		got, err := tailStart(bytes.NewReader(data), n)
		if err != nil {
			t.Fatal(err)
		}
		// Naive: the lines, each with its newline; the last may lack it.
		var starts []int64
		for i := 0; i < len(data); {
			starts = append(starts, int64(i))
			j := bytes.IndexByte(data[i:], '\n')
			if j < 0 {
				break
			}
			i += j + 1
		}
		want := int64(len(data))
		if n > 0 {
			want = 0
			if int64(len(starts)) > n {
				want = starts[int64(len(starts))-n]
			}
		}
		if got != want {
			t.Fatalf("tailStart(%q, %d) = %d, want %d", data, n, got, want)
		}
	})
}
