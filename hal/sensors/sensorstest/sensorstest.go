// Package sensorstest provides fakes for hal/sensors: Reader, a scripted
// source of readings; Mailbox, a scripted firmware mailbox; and fake
// sysfs/procfs trees of real boards (a Raspberry Pi 5 healthy, after a
// brown-out, and on Ubuntu's kernel; a Pi 4; an x86 laptop) to point
// sensors.Config.Root at. testdata/README.md cites where each file's
// content comes from.
package sensorstest

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/cityarray/cityarray/hal/sensors"
)

// Reader returns the reading it holds. It stands in for *sensors.Reader
// behind an interface the consumer declares. Set fields before use.
type Reader struct {
	Reading sensors.Reading // returned by every Read
	Err     error           // returned by every Read when set

	mu    sync.Mutex
	calls int
}

// Read returns r.Reading and r.Err, or ctx's error.
func (r *Reader) Read(ctx context.Context) (sensors.Reading, error) {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return sensors.Reading{}, err
	}
	return r.Reading, r.Err
}

// Calls returns how many times Read was called.
func (r *Reader) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// The fakes satisfy the interfaces they stand in for.
var (
	_ sensors.Mailbox = Mailbox{}
	_ sensors.Mailbox = sensors.VCIO{}
)

// Mailbox is a fake firmware mailbox answering with Value or Err.
type Mailbox struct {
	Value uint32 // the get_throttled word to answer
	Err   error  // the error to answer instead, when set
}

// Throttled returns m.Value, or m.Err when set.
func (m Mailbox) Throttled(ctx context.Context) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return m.Value, m.Err
}

//go:embed testdata/*.txtar
var trees embed.FS

// Trees lists the names of the built-in trees ("pi5", "pi5-brownout",
// "pi5-ubuntu", "pi4", "x86").
func Trees() []string {
	ents, _ := trees.ReadDir("testdata")
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".txtar"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// WriteTree unpacks the built-in tree name under dir.
func WriteTree(dir, name string) error {
	b, err := trees.ReadFile("testdata/" + name + ".txtar")
	if err != nil {
		return fmt.Errorf("sensorstest: no tree %q (have %s)", name, strings.Join(Trees(), ", "))
	}
	return WriteArchive(dir, b)
}

// WriteArchive unpacks a tree archive under dir. The archive is the txtar
// layout with one addition: lines before the first marker are a comment,
// "-- path --" starts a file whose content is the lines up to the next
// marker, and "-- path -> target --" makes a symlink.
func WriteArchive(dir string, archive []byte) error {
	type file struct {
		path, link string
		data       bytes.Buffer
	}
	var files []*file
	sc := bufio.NewScanner(bytes.NewReader(archive))
	for sc.Scan() {
		line := sc.Text()
		if m, ok := strings.CutPrefix(line, "-- "); ok {
			if m, ok = strings.CutSuffix(m, " --"); ok {
				f := &file{path: m}
				if p, target, ok := strings.Cut(m, " -> "); ok {
					f.path, f.link = p, target
				}
				files = append(files, f)
				continue
			}
		}
		if len(files) > 0 {
			files[len(files)-1].data.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("sensorstest: reading archive: %w", err)
	}
	for _, f := range files {
		if filepath.IsAbs(f.path) || strings.Contains(f.path, "..") {
			return fmt.Errorf("sensorstest: archive path %q leaves the tree", f.path)
		}
		full := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if f.link != "" {
			if err := os.Symlink(filepath.FromSlash(f.link), full); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(full, f.data.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
