// Package state records the mappings the portmap command made, because
// NAT-PMP deletes by internal port, PCP only with the nonce that made a
// mapping, and neither can list: "portmap delete 8080" and "portmap list"
// find the rest of what they need here.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/portmap-dev/portmap"
)

// maxSize bounds the state file that is read back.
const maxSize = 4 << 20

// File is the state file at a path.
type File struct {
	Path string
}

// DefaultPath is mappings.json under the user's state directory:
// $XDG_STATE_HOME/portmap (~/.local/state/portmap) on Unix,
// %LocalAppData%\portmap on Windows, ~/Library/Application Support/portmap
// on macOS.
func DefaultPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		switch runtime.GOOS {
		case "windows", "darwin", "ios":
			dir, _ = os.UserConfigDir()
			if runtime.GOOS == "windows" {
				if d := os.Getenv("LocalAppData"); d != "" {
					dir = d
				}
			}
		default:
			if home, err := os.UserHomeDir(); err == nil {
				dir = filepath.Join(home, ".local", "state")
			}
		}
	}
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "portmap", "mappings.json")
}

// Load reads every recorded mapping, dropping those whose lease has ended.
// A missing file is an empty record.
func (f File) Load() ([]portmap.Mapping, error) {
	b, err := readBounded(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var ms []portmap.Mapping
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("state file %s is damaged (%v): delete it to start afresh", f.Path, err)
	}
	now := time.Now()
	live := ms[:0]
	for _, m := range ms {
		if m.Expires.IsZero() || m.Expires.After(now) {
			live = append(live, m)
		}
	}
	return live, nil
}

func readBounded(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSize)
	}
	return b, nil
}

// Save replaces the record atomically (write to a temporary file, rename).
func (f File) Save(ms []portmap.Mapping) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	b, err := json.MarshalIndent(ms, "", "  ")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".mappings-*.json")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// Key identifies a mapping on a gateway: one external port and transport.
func Key(m portmap.Mapping) string {
	return fmt.Sprintf("%s|%s|%d|%s", m.Protocol, m.Gateway, m.External.Port(), m.Transport)
}

// Put records m, replacing a record of the same gateway, protocol,
// external port and transport.
func (f File) Put(m portmap.Mapping) error {
	ms, err := f.Load()
	if err != nil {
		return err
	}
	ms = remove(ms, func(o portmap.Mapping) bool { return Key(o) == Key(m) })
	return f.Save(append(ms, m))
}

// Remove forgets the mappings for which match is true.
func (f File) Remove(match func(portmap.Mapping) bool) error {
	ms, err := f.Load()
	if err != nil {
		return err
	}
	return f.Save(remove(ms, match))
}

func remove(ms []portmap.Mapping, match func(portmap.Mapping) bool) []portmap.Mapping {
	out := ms[:0]
	for _, m := range ms {
		if !match(m) {
			out = append(out, m)
		}
	}
	return out
}

// Apply records every mapping of put and forgets every mapping of drop
// (matched by Key) in one read and one write of the file.
func (f File) Apply(put, drop []portmap.Mapping) error {
	ms, err := f.Load()
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, m := range append(append([]portmap.Mapping(nil), put...), drop...) {
		gone[Key(m)] = true
	}
	ms = remove(ms, func(o portmap.Mapping) bool { return gone[Key(o)] })
	return f.Save(append(ms, put...))
}
