package gitrepo

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// maxObjectSize bounds the commit and tag objects readDirect reads; a larger one is left to git.
const maxObjectSize = 16 << 20

// objectStore reads objects from a repository's objects directory: loose ones, and packed ones
// stored whole (not as deltas). Any other case, including an object found nowhere (it may be in
// an alternate or a promisor remote), is "not ok" for the caller to leave to git.
type objectStore struct {
	dir   string // .git/objects
	packs []*packFile
	// loaded is set once the packs are opened, packsOK when that worked.
	loaded, packsOK bool
}

// packFile is a pack and its version 2 index.
type packFile struct {
	idx, pack *os.File
	fanout    [256]uint32
}

func (s *objectStore) close() {
	for _, p := range s.packs {
		p.idx.Close()
		p.pack.Close()
	}
}

// read returns the type and content of object oid (40 hex digits). found is false when the
// store does not have it; ok is false when it could not tell or read it.
func (s *objectStore) read(oid string) (typ string, data []byte, found, ok bool) {
	raw, err := os.ReadFile(filepath.Join(s.dir, oid[:2], oid[2:]))
	switch {
	case err == nil:
		return looseObject(raw)
	case !notExist(err):
		return "", nil, false, false
	}
	p, off, found, ok := s.find(oid)
	if !found || !ok {
		return "", nil, found, ok
	}
	return p.object(off)
}

// has reports whether the store has object oid; ok is false when it could not tell.
func (s *objectStore) has(oid string) (found, ok bool) {
	_, err := os.Lstat(filepath.Join(s.dir, oid[:2], oid[2:]))
	switch {
	case err == nil:
		return true, true
	case !notExist(err):
		return false, false
	}
	_, _, found, ok = s.find(oid)
	return found, ok
}

// looseObject inflates a loose object: "<type> <size>\x00<content>".
func looseObject(raw []byte) (typ string, data []byte, found, ok bool) {
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return "", nil, true, false
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxObjectSize))
	if err != nil || len(out) == maxObjectSize {
		return "", nil, true, false
	}
	header, data, cut := bytes.Cut(out, []byte{0})
	t, size, cut2 := strings.Cut(string(header), " ")
	if n, err := strconv.Atoi(size); !cut || !cut2 || err != nil || n != len(data) {
		return "", nil, true, false
	}
	return t, data, true, true
}

// find looks oid up in the pack indexes.
func (s *objectStore) find(oid string) (p *packFile, off int64, found, ok bool) {
	if !s.loaded {
		s.loaded = true
		s.packsOK = s.loadPacks()
	}
	if !s.packsOK {
		return nil, 0, false, false
	}
	var id [20]byte
	if _, err := hex.Decode(id[:], []byte(oid)); err != nil {
		return nil, 0, false, false
	}
	for _, p := range s.packs {
		off, found, ok := p.find(id)
		if found || !ok {
			return p, off, found, ok
		}
	}
	return nil, 0, false, true
}

// loadPacks opens every pack with a version 2 index.
func (s *objectStore) loadPacks() bool {
	idxs, err := filepath.Glob(filepath.Join(s.dir, "pack", "*.idx"))
	if err != nil {
		return false
	}
	for _, name := range idxs {
		idx, err := os.Open(name)
		if err != nil {
			return false
		}
		pack, err := os.Open(strings.TrimSuffix(name, ".idx") + ".pack")
		if err != nil {
			idx.Close()
			return false
		}
		p := &packFile{idx: idx, pack: pack}
		s.packs = append(s.packs, p)
		var head [8 + 256*4]byte
		if _, err := idx.ReadAt(head[:], 0); err != nil || string(head[:8]) != "\xfftOc\x00\x00\x00\x02" {
			return false
		}
		for i := range p.fanout {
			p.fanout[i] = binary.BigEndian.Uint32(head[8+4*i:])
		}
	}
	return true
}

// find returns where object id starts in the pack.
func (p *packFile) find(id [20]byte) (off int64, found, ok bool) {
	n := int64(p.fanout[255])
	lo := int64(0)
	if id[0] > 0 {
		lo = int64(p.fanout[id[0]-1])
	}
	hi := int64(p.fanout[id[0]])
	if hi < lo || hi > n {
		return 0, false, false
	}
	ids := make([]byte, (hi-lo)*20)
	if _, err := p.idx.ReadAt(ids, 8+256*4+lo*20); err != nil {
		return 0, false, false
	}
	i := int64(-1)
	for k := int64(0); k < hi-lo; k++ {
		if bytes.Equal(ids[k*20:k*20+20], id[:]) {
			i = lo + k
			break
		}
	}
	if i < 0 {
		return 0, false, true
	}
	var b [8]byte
	if _, err := p.idx.ReadAt(b[:4], 8+256*4+n*24+i*4); err != nil {
		return 0, true, false
	}
	v := binary.BigEndian.Uint32(b[:4])
	if v&0x80000000 == 0 {
		return int64(v), true, true
	}
	if _, err := p.idx.ReadAt(b[:], 8+256*4+n*28+int64(v&0x7fffffff)*8); err != nil {
		return 0, true, false
	}
	return int64(binary.BigEndian.Uint64(b[:])), true, true
}

// packTypes names the object types a pack stores whole.
var packTypes = [8]string{1: "commit", 2: "tree", 3: "blob", 4: "tag"}

// object reads the object at off: a header (type and size, seven bits a byte) and its
// deflated content. Deltas (types 6 and 7) are not ok.
func (p *packFile) object(off int64) (typ string, data []byte, found, ok bool) {
	var head [16]byte
	n, err := p.pack.ReadAt(head[:], off)
	if err != nil && !errors.Is(err, io.EOF) || n == 0 {
		return "", nil, true, false
	}
	c := head[0]
	typ = packTypes[(c>>4)&7]
	size := int64(c & 15)
	i, shift := 1, 4
	for c&0x80 != 0 {
		if i >= n || shift > 56 {
			return "", nil, true, false
		}
		c = head[i]
		size |= int64(c&0x7f) << shift
		i, shift = i+1, shift+7
	}
	if typ == "" || size > maxObjectSize {
		return "", nil, true, false
	}
	zr, err := zlib.NewReader(io.NewSectionReader(p.pack, off+int64(i), 1<<62))
	if err != nil {
		return "", nil, true, false
	}
	data = make([]byte, size)
	if _, err := io.ReadFull(zr, data); err != nil {
		return "", nil, true, false
	}
	return typ, data, true, true
}

// notExist reports whether err says a path is not there (or a file stands where a directory
// would be).
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
