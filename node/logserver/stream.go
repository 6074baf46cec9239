package logserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// DefaultPollInterval is how often a follow looks for appended bytes, a
// removed file or a new container attempt.
const DefaultPollInterval = 250 * time.Millisecond

// tailBlock is how much of the file tailStart reads at a time, backwards.
const tailBlock = 32 << 10

// StreamOptions select what Stream copies from a log file.
type StreamOptions struct {
	// TailLines > 0 starts at the last TailLines lines; 0 sends no
	// existing line (only, with Follow, new ones); < 0 starts at the
	// beginning of the file.
	TailLines int64
	// LimitBytes > 0 stops after that many bytes; 0 or less: no limit.
	LimitBytes int64
	// Follow keeps copying bytes appended to the file until ctx ends,
	// the file is removed or replaced, or Current reports false.
	Follow bool
	// PollInterval of a follow; 0 = DefaultPollInterval.
	PollInterval time.Duration
	// Current, when set, is asked on every idle poll of a follow whether
	// the file is still the log of the container's current attempt; once
	// it is not, Stream copies what is left of the file and returns.
	Current func() bool
}

// Stream copies the log file f, opened by the caller (who closes it), to
// w as opts say. It returns nil when it has sent what was asked (the end
// of the file, the byte limit, or, when following, the end of the
// attempt) and ctx.Err() when ctx ends first. A follow watches the file
// by its name, f.Name().
func Stream(ctx context.Context, w io.Writer, f *os.File, opts StreamOptions) error {
	path := f.Name()
	start := int64(0)
	if opts.TailLines >= 0 {
		var err error
		if start, err = tailStart(f, opts.TailLines); err != nil {
			return fmt.Errorf("logserver: tail %s: %w", path, err)
		}
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("logserver: seek %s: %w", path, err)
	}
	lw := &limitWriter{w: w, left: opts.LimitBytes}
	if opts.LimitBytes <= 0 {
		lw.left = -1
	}
	buf := make([]byte, 32<<10)
	if err := copyAvailable(f, lw, buf); err != nil || lw.full() || !opts.Follow {
		return err
	}
	interval := opts.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		// The order matters: decide first whether the attempt is over,
		// then copy what is left, so no byte written before the end is
		// lost.
		over := ended(f, path, opts.Current)
		if err := copyAvailable(f, lw, buf); err != nil || lw.full() {
			return err
		}
		if over {
			return nil
		}
	}
}

// ended reports whether a followed file is done with: removed, replaced
// by another file, or no longer the current attempt's.
func ended(f *os.File, path string, current func() bool) bool {
	if current != nil && !current() {
		return true
	}
	now, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	open, err := f.Stat()
	return err == nil && !os.SameFile(open, now)
}

// copyAvailable copies from f's offset to its current end.
func copyAvailable(f *os.File, w *limitWriter, buf []byte) error {
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if werr := w.write(buf[:n]); werr != nil {
				return werr
			}
			if w.full() {
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("logserver: read log: %w", err)
		}
	}
}

// tailStart returns the offset of the first of the last n lines of f. A
// final line without its newline counts as a line.
func tailStart(f io.ReadSeeker, n int64) (int64, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return size, nil
	}
	buf := make([]byte, tailBlock)
	end := size
	// The newline ending the last line does not start another line.
	skipLast := true
	for end > 0 {
		start := max(0, end-tailBlock)
		chunk := buf[:end-start]
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(f, chunk); err != nil {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				skipLast = false
				continue
			}
			if skipLast {
				skipLast = false
				continue
			}
			n--
			if n == 0 {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// limitWriter writes at most left bytes (left < 0: no limit).
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) full() bool { return l.left == 0 }

func (l *limitWriter) write(p []byte) error {
	if l.left >= 0 && int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	if l.left >= 0 {
		l.left -= int64(n)
	}
	if err != nil {
		return fmt.Errorf("logserver: write: %w", err)
	}
	return nil
}
