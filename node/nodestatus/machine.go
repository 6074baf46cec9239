package nodestatus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoMemInfo is returned by ReadMachine when /proc/meminfo has no
// MemTotal.
var ErrNoMemInfo = errors.New("nodestatus: no MemTotal in /proc/meminfo")

// Machine is one reading of the machine the agent runs on.
type Machine struct {
	// CPUs is the number of online CPUs.
	CPUs int
	// MemTotal and MemAvailable are /proc/meminfo's, in bytes.
	MemTotal, MemAvailable int64
	// FS is the filesystem holding the agent's data dir.
	FS FSStats
	// PIDMax is /proc/sys/kernel/pid_max; Processes is the number of
	// tasks (threads included) that hold a PID now. Zero when unknown.
	PIDMax, Processes int64

	KernelVersion   string // uname -r
	OSImage         string // /etc/os-release PRETTY_NAME
	OperatingSystem string // "linux"
	Architecture    string // runtime.GOARCH
	MachineID       string // /etc/machine-id
	BootID          string // /proc/sys/kernel/random/boot_id
	SystemUUID      string // DMI product UUID, else the machine ID
	Hostname        string
}

// FSStats are a filesystem's size and free space, in bytes and inodes.
type FSStats struct {
	Capacity, Available int64 // bytes; Available is what unprivileged users may use
	Inodes, InodesFree  int64
}

// StatFS reads the filesystem holding path.
type StatFS func(path string) (FSStats, error)

// Statfs is StatFS with statfs(2).
func Statfs(path string) (FSStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FSStats{}, fmt.Errorf("nodestatus: statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize)
	return FSStats{
		Capacity:   int64(st.Blocks) * bs,
		Available:  int64(st.Bavail) * bs,
		Inodes:     int64(st.Files),
		InodesFree: int64(st.Ffree),
	}, nil
}

// MachineReader reads a Machine from a root filesystem.
type MachineReader struct {
	// FS is the machine's root (paths like "proc/meminfo"); os.DirFS("/")
	// when nil.
	FS fs.FS
	// Statfs reads the data dir's filesystem; the Statfs function (on the
	// host path) when nil.
	Statfs StatFS
}

// ReadMachine reads the machine from fsys (os.DirFS("/") when nil) and
// statfs(2) of dataDir.
func ReadMachine(fsys fs.FS, dataDir string) (Machine, error) {
	return MachineReader{FS: fsys}.Read(dataDir)
}

// Read reads the machine. Only /proc/meminfo and the data dir's
// filesystem are required; any other reading that is missing is left
// empty or falls back (CPUs to runtime.NumCPU, SystemUUID to the machine
// ID, the kernel version and hostname to uname(2) on the real root).
func (r MachineReader) Read(dataDir string) (Machine, error) {
	fsys, real := r.FS, false
	if fsys == nil {
		fsys, real = os.DirFS("/"), true
	}
	statfs := r.Statfs
	if statfs == nil {
		statfs = Statfs
	}
	m := Machine{OperatingSystem: "linux", Architecture: runtime.GOARCH}

	meminfo, err := fs.ReadFile(fsys, "proc/meminfo")
	if err != nil {
		return Machine{}, fmt.Errorf("nodestatus: reading meminfo: %w", err)
	}
	if m.MemTotal, m.MemAvailable, err = parseMeminfo(meminfo); err != nil {
		return Machine{}, err
	}
	if m.FS, err = statfs(dataDir); err != nil {
		return Machine{}, err
	}

	m.CPUs = readCPUs(fsys)
	if s, ok := readTrim(fsys, "proc/sys/kernel/pid_max"); ok {
		m.PIDMax, _ = strconv.ParseInt(s, 10, 64)
	}
	m.Processes = readProcesses(fsys)

	m.KernelVersion, _ = readTrim(fsys, "proc/sys/kernel/osrelease")
	m.Hostname, _ = readTrim(fsys, "proc/sys/kernel/hostname")
	if real && (m.KernelVersion == "" || m.Hostname == "") {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			if m.KernelVersion == "" {
				m.KernelVersion = unix.ByteSliceToString(u.Release[:])
			}
			if m.Hostname == "" {
				m.Hostname = unix.ByteSliceToString(u.Nodename[:])
			}
		}
	}
	if m.Hostname == "" {
		if s, ok := readTrim(fsys, "etc/hostname"); ok {
			m.Hostname = s
		}
	}
	if b, err := fs.ReadFile(fsys, "etc/os-release"); err == nil {
		m.OSImage = osReleasePrettyName(b)
	} else if b, err := fs.ReadFile(fsys, "usr/lib/os-release"); err == nil {
		m.OSImage = osReleasePrettyName(b)
	}
	m.MachineID, _ = readTrim(fsys, "etc/machine-id")
	m.BootID, _ = readTrim(fsys, "proc/sys/kernel/random/boot_id")
	if s, ok := readTrim(fsys, "sys/class/dmi/id/product_uuid"); ok {
		m.SystemUUID = s
	} else {
		m.SystemUUID = m.MachineID
	}
	return m, nil
}

// readTrim reads a one-line file; ok is false when it is missing or empty.
func readTrim(fsys fs.FS, name string) (string, bool) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", false
	}
	s := strings.TrimSpace(string(b))
	return s, s != ""
}

// parseMeminfo returns MemTotal and MemAvailable in bytes. MemAvailable
// falls back to MemFree+Buffers+Cached on kernels without it.
func parseMeminfo(b []byte) (total, avail int64, err error) {
	vals := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 {
			continue
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			if v > math.MaxInt64/1024 {
				continue
			}
			v *= 1024
		}
		vals[key] = v
	}
	total, ok := vals["MemTotal"]
	if !ok || total <= 0 {
		return 0, 0, ErrNoMemInfo
	}
	avail, ok = vals["MemAvailable"]
	if !ok {
		avail = vals["MemFree"] + vals["Buffers"] + vals["Cached"]
	}
	if avail < 0 || avail > total {
		avail = min(max(avail, 0), total)
	}
	return total, avail, nil
}

// readCPUs counts online CPUs: /sys/devices/system/cpu/online, else the
// processor entries of /proc/cpuinfo, else runtime.NumCPU.
func readCPUs(fsys fs.FS) int {
	if s, ok := readTrim(fsys, "sys/devices/system/cpu/online"); ok {
		if n, err := parseCPUList(s); err == nil && n > 0 {
			return n
		}
	}
	if b, err := fs.ReadFile(fsys, "proc/cpuinfo"); err == nil {
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if key, _, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(key) == "processor" {
				n++
			}
		}
		if n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// parseCPUList counts the CPUs of a kernel CPU list such as "0-3,8,10-11".
func parseCPUList(s string) (int, error) {
	n := 0
	for part := range strings.SplitSeq(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("nodestatus: bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("nodestatus: bad CPU list %q", s)
			}
		}
		n += b - a + 1
	}
	return n, nil
}

// readProcesses is the number of tasks holding a PID: the total of
// /proc/loadavg's "running/total" field, else the numeric dirs of /proc.
func readProcesses(fsys fs.FS) int64 {
	if s, ok := readTrim(fsys, "proc/loadavg"); ok {
		if f := strings.Fields(s); len(f) >= 4 {
			if _, total, ok := strings.Cut(f[3], "/"); ok {
				if n, err := strconv.ParseInt(total, 10, 64); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	ents, err := fs.ReadDir(fsys, "proc")
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := strconv.ParseUint(e.Name(), 10, 64); err == nil {
			n++
		}
	}
	return n
}

// osReleasePrettyName is os-release's PRETTY_NAME, unquoted; "Linux"
// when it has none, as os-release(5) says.
func osReleasePrettyName(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || key != "PRETTY_NAME" {
			continue
		}
		if uq, err := strconv.Unquote(val); err == nil {
			return uq
		}
		if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
			return val[1 : len(val)-1]
		}
		return val
	}
	return "Linux"
}
