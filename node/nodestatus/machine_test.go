package nodestatus

import (
	"bufio"
	"errors"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

const fakeMeminfo = `MemTotal:        8046788 kB
MemFree:          512000 kB
MemAvailable:    4023394 kB
Buffers:          100000 kB
Cached:          2000000 kB
HugePages_Total:       0
`

func fakeRoot() fstest.MapFS {
	return fstest.MapFS{
		"proc/meminfo":                    {Data: []byte(fakeMeminfo)},
		"sys/devices/system/cpu/online":   {Data: []byte("0-3,6,8-9\n")},
		"proc/cpuinfo":                    {Data: []byte("processor\t: 0\nprocessor\t: 1\n")},
		"proc/sys/kernel/pid_max":         {Data: []byte("4194304\n")},
		"proc/loadavg":                    {Data: []byte("0.52 0.58 0.59 3/812 12345\n")},
		"proc/1":                          {Mode: 0o555 | os.ModeDir},
		"proc/42":                         {Mode: 0o555 | os.ModeDir},
		"proc/self":                       {Data: []byte("42")},
		"proc/sys/kernel/osrelease":       {Data: []byte("6.1.0-18-amd64\n")},
		"proc/sys/kernel/hostname":        {Data: []byte("worker-1\n")},
		"proc/sys/kernel/random/boot_id":  {Data: []byte("b0a1e5f2-7c1d-4d1e-9a43-2d6f0c7e9b10\n")},
		"etc/machine-id":                  {Data: []byte("4c4c4544004d3510804bb4c04f4b4d32\n")},
		"etc/os-release":                  {Data: []byte("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n")},
		"sys/class/dmi/id/product_uuid":   {Data: []byte("4C4C4544-004D-3510-804B-B4C04F4B4D32\n")},
		"sys/devices/system/cpu/possible": {Data: []byte("0-15\n")},
	}
}

func fakeStatfs(st FSStats, err error) StatFS {
	return func(string) (FSStats, error) { return st, err }
}

var fakeFS = FSStats{Capacity: 100 << 30, Available: 60 << 30, Inodes: 6_000_000, InodesFree: 5_000_000}

func TestReadMachineFake(t *testing.T) {
	full := Machine{
		CPUs: 7, MemTotal: 8046788 * 1024, MemAvailable: 4023394 * 1024, FS: fakeFS,
		PIDMax: 4194304, Processes: 812,
		KernelVersion: "6.1.0-18-amd64", OSImage: "Debian GNU/Linux 12 (bookworm)",
		OperatingSystem: "linux", Architecture: runtime.GOARCH,
		MachineID: "4c4c4544004d3510804bb4c04f4b4d32", BootID: "b0a1e5f2-7c1d-4d1e-9a43-2d6f0c7e9b10",
		SystemUUID: "4C4C4544-004D-3510-804B-B4C04F4B4D32", Hostname: "worker-1",
	}
	tests := []struct {
		name   string
		edit   func(fstest.MapFS)
		want   func(*Machine)
		errIs  error
		errAny bool
	}{
		{name: "full tree", edit: func(fstest.MapFS) {}, want: func(*Machine) {}},
		{
			name: "cpuinfo when no online list",
			edit: func(f fstest.MapFS) { delete(f, "sys/devices/system/cpu/online") },
			want: func(m *Machine) { m.CPUs = 2 },
		},
		{
			name: "NumCPU when neither",
			edit: func(f fstest.MapFS) {
				delete(f, "sys/devices/system/cpu/online")
				delete(f, "proc/cpuinfo")
			},
			want: func(m *Machine) { m.CPUs = runtime.NumCPU() },
		},
		{
			name: "bad online list falls back to cpuinfo",
			edit: func(f fstest.MapFS) { f["sys/devices/system/cpu/online"] = &fstest.MapFile{Data: []byte("3-1")} },
			want: func(m *Machine) { m.CPUs = 2 },
		},
		{
			name: "processes counted from /proc without loadavg",
			edit: func(f fstest.MapFS) { delete(f, "proc/loadavg") },
			want: func(m *Machine) { m.Processes = 2 },
		},
		{
			name: "system UUID falls back to machine ID",
			edit: func(f fstest.MapFS) { delete(f, "sys/class/dmi/id/product_uuid") },
			want: func(m *Machine) { m.SystemUUID = m.MachineID },
		},
		{
			name: "os-release from /usr/lib, unquoted",
			edit: func(f fstest.MapFS) {
				delete(f, "etc/os-release")
				f["usr/lib/os-release"] = &fstest.MapFile{Data: []byte("PRETTY_NAME=Alpine\n")}
			},
			want: func(m *Machine) { m.OSImage = "Alpine" },
		},
		{
			name: "os-release without PRETTY_NAME",
			edit: func(f fstest.MapFS) { f["etc/os-release"] = &fstest.MapFile{Data: []byte("ID=x\n")} },
			want: func(m *Machine) { m.OSImage = "Linux" },
		},
		{
			name: "hostname from /etc/hostname",
			edit: func(f fstest.MapFS) {
				delete(f, "proc/sys/kernel/hostname")
				f["etc/hostname"] = &fstest.MapFile{Data: []byte("box\n")}
			},
			want: func(m *Machine) { m.Hostname = "box" },
		},
		{
			name: "optional readings missing",
			edit: func(f fstest.MapFS) {
				for _, k := range []string{"proc/sys/kernel/pid_max", "proc/sys/kernel/osrelease", "proc/sys/kernel/hostname",
					"etc/machine-id", "proc/sys/kernel/random/boot_id", "sys/class/dmi/id/product_uuid", "etc/os-release"} {
					delete(f, k)
				}
			},
			want: func(m *Machine) {
				m.PIDMax, m.KernelVersion, m.Hostname, m.MachineID, m.BootID, m.SystemUUID = 0, "", "", "", "", ""
				m.OSImage = ""
			},
		},
		{
			name: "MemAvailable missing: free+buffers+cached",
			edit: func(f fstest.MapFS) {
				f["proc/meminfo"] = &fstest.MapFile{Data: []byte(strings.Replace(fakeMeminfo, "MemAvailable:    4023394 kB\n", "", 1))}
			},
			want: func(m *Machine) { m.MemAvailable = (512000 + 100000 + 2000000) * 1024 },
		},
		{name: "no meminfo", edit: func(f fstest.MapFS) { delete(f, "proc/meminfo") }, errAny: true},
		{
			name:  "no MemTotal",
			edit:  func(f fstest.MapFS) { f["proc/meminfo"] = &fstest.MapFile{Data: []byte("MemFree: 1 kB\n")} },
			errIs: ErrNoMemInfo,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeRoot()
			tt.edit(root)
			got, err := MachineReader{FS: root, Statfs: fakeStatfs(fakeFS, nil)}.Read("/var/lib/cairn")
			if tt.errIs != nil || tt.errAny {
				if err == nil || (tt.errIs != nil && !errors.Is(err, tt.errIs)) {
					t.Fatalf("err = %v, want %v", err, tt.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := full
			tt.want(&want)
			if !reflect.DeepEqual(want, got) {
				t.Errorf("machine:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestReadMachineStatfsError(t *testing.T) {
	boom := errors.New("boom")
	var gotPath string
	_, err := MachineReader{FS: fakeRoot(), Statfs: func(p string) (FSStats, error) {
		gotPath = p
		return FSStats{}, boom
	}}.Read("/data")
	if !errors.Is(err, boom) || gotPath != "/data" {
		t.Fatalf("err = %v, path %q", err, gotPath)
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		err  bool
	}{
		{"0", 1, false}, {"0-1", 2, false}, {"0-3,6,8-9", 7, false}, {"0-63\n", 64, false},
		{"", 0, false}, {"a", 0, true}, {"3-1", 0, true}, {"-1", 0, true}, {"0-", 0, true},
	} {
		got, err := parseCPUList(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseCPUList(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestReadMachineReal reads this machine: its CPU count is the number of
// online CPUs and its memory is MemTotal.
func TestReadMachineReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		if os.Getenv("CI") == "true" {
			t.Fatal("the node agent runs on Linux; CI must too")
		}
		t.Skip("the machine readings need Linux's /proc, which this OS has not")
	}
	m, err := ReadMachine(nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if online, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		n, err := parseCPUList(string(online))
		if err != nil {
			t.Fatal(err)
		}
		if m.CPUs != n {
			t.Errorf("CPUs = %d, online CPUs %d", m.CPUs, n)
		}
	}
	if m.MemTotal != memTotal(t) {
		t.Errorf("MemTotal = %d, /proc/meminfo says %d", m.MemTotal, memTotal(t))
	}
	if m.MemAvailable <= 0 || m.MemAvailable > m.MemTotal {
		t.Errorf("MemAvailable = %d of %d", m.MemAvailable, m.MemTotal)
	}
	if m.FS.Capacity <= 0 || m.FS.Available < 0 || m.FS.Available > m.FS.Capacity {
		t.Errorf("FS = %+v", m.FS)
	}
	if m.PIDMax <= 0 || m.Processes <= 0 || m.Processes > m.PIDMax {
		t.Errorf("PIDMax %d, Processes %d", m.PIDMax, m.Processes)
	}
	host, _ := os.Hostname()
	if m.Hostname != host {
		t.Errorf("Hostname = %q, os.Hostname %q", m.Hostname, host)
	}
	if m.KernelVersion == "" || m.BootID == "" || m.OperatingSystem != "linux" || m.Architecture != runtime.GOARCH {
		t.Errorf("machine = %+v", m)
	}
	t.Logf("machine: %+v", m)
}

// memTotal is /proc/meminfo's MemTotal in bytes, read independently.
func memTotal(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal")
	return 0
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3,6,8-9", "", "3-1", "0-", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseCPUList(s)
		if err == nil && n < 0 {
			t.Fatalf("parseCPUList(%q) = %d", s, n)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add([]byte(fakeMeminfo))
	f.Add([]byte("MemTotal: 1\n"))
	f.Add([]byte("MemTotal:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		total, avail, err := parseMeminfo(b)
		if err == nil && (total <= 0 || avail < 0) {
			t.Fatalf("parseMeminfo = %d, %d", total, avail)
		}
	})
}

func FuzzOSReleasePrettyName(f *testing.F) {
	f.Add([]byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"))
	f.Add([]byte("PRETTY_NAME='x'\n"))
	f.Add([]byte("PRETTY_NAME=\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = osReleasePrettyName(b)
	})
}
