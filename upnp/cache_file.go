package upnp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
)

// maxCacheFile bounds how much of a cache file is read.
const maxCacheFile = 1 << 20

// FileCache is a Cache kept in a JSON file, so that one CLI invocation can
// reuse what an earlier one discovered. Every operation reads the file;
// writes replace it atomically (temporary file and rename) with mode 0600.
// A missing, unreadable or corrupt file reads as empty. Concurrent
// processes may overwrite each other's entries, which only costs a search.
type FileCache struct {
	path string
	mu   sync.Mutex // serialises this process's read-modify-write cycles
}

// NewFileCache returns a FileCache stored at path. Nothing is read or
// written until it is used; the directory is created on the first Put.
func NewFileCache(path string) *FileCache {
	return &FileCache{path: path}
}

// DefaultCachePath returns the file the CLI uses:
// <os.UserCacheDir>/portmap/upnp.json.
func DefaultCachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("upnp: cache directory: %w", err)
	}
	return filepath.Join(dir, "portmap", "upnp.json"), nil
}

// Path returns the file's path.
func (c *FileCache) Path() string { return c.path }

// cacheFile is the file's JSON document.
type cacheFile struct {
	Version int                       `json:"version"`
	Entries map[netip.Addr]CacheEntry `json:"entries"`
}

const cacheFileVersion = 1

// Get returns the entry for gateway.
func (c *FileCache) Get(gateway netip.Addr) (CacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, _ := c.load()
	e, ok := m[gateway.Unmap()]
	return e, ok
}

// Put stores e for gateway.
func (c *FileCache) Put(gateway netip.Addr, e CacheEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, _ := c.load()
	k := gateway.Unmap()
	if _, ok := m[k]; !ok && len(m) >= maxCacheEntries {
		evictOldest(m)
	}
	m[k] = e
	return c.store(m)
}

// Delete removes the entry for gateway.
func (c *FileCache) Delete(gateway netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.load()
	if _, ok := m[gateway.Unmap()]; !ok {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			// A corrupt file holds nothing valid; replace it.
			return c.store(m)
		}
		return nil
	}
	delete(m, gateway.Unmap())
	return c.store(m)
}

// load reads the file. It always returns a usable map.
func (c *FileCache) load() (map[netip.Addr]CacheEntry, error) {
	m := make(map[netip.Addr]CacheEntry)
	f, err := os.Open(c.path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCacheFile+1))
	if err != nil {
		return m, err
	}
	if len(b) > maxCacheFile {
		return m, fmt.Errorf("upnp: cache file %s larger than %d bytes", c.path, maxCacheFile)
	}
	var doc cacheFile
	if err := json.Unmarshal(b, &doc); err != nil {
		return m, fmt.Errorf("upnp: cache file %s: %w", c.path, err)
	}
	if doc.Version != cacheFileVersion {
		return m, fmt.Errorf("upnp: cache file %s: version %d", c.path, doc.Version)
	}
	for k, e := range doc.Entries {
		if k.IsValid() && len(m) < maxCacheEntries {
			m[k.Unmap()] = e
		}
	}
	return m, nil
}

// store writes m atomically: a temporary file in the same directory, then
// renamed over the old one, so a reader never sees half a file. There is
// no fsync: the cache is only a hint, and a file damaged by a power cut
// reads as empty and costs one search.
func (c *FileCache) store(m map[netip.Addr]CacheEntry) error {
	b, err := json.MarshalIndent(cacheFile{Version: cacheFileVersion, Entries: m}, "", "  ")
	if err != nil {
		return fmt.Errorf("upnp: encoding cache: %w", err)
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("upnp: cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".upnp-cache-*")
	if err != nil {
		return fmt.Errorf("upnp: writing cache: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	// CreateTemp already uses 0600; say so explicitly for umask-independent
	// intent (the file holds the LAN's gateway URLs).
	if err := tmp.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("upnp: writing cache: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("upnp: writing cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("upnp: writing cache: %w", err)
	}
	if err := os.Rename(name, c.path); err != nil {
		return fmt.Errorf("upnp: writing cache: %w", err)
	}
	ok = true
	return nil
}
