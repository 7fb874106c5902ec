// Command gotiles is pypi-witness's reference oracle for tlog tiles: it runs
// the Go checksum database's tile functions (golang.org/x/mod/sumdb/tlog:
// StoredHashes, NewTiles, ReadTileData, Tile.Path) on leaves it is given and
// prints what they compute, as JSON on stdout.
//
// It is built and run only by scripts/gen_tile_vectors.py, on a developer
// machine with Go and golang.org/x/mod installed (Debian: golang-go and
// golang-golang-x-mod-dev). CI never runs it: the generator freezes its
// output into tests/vectors/go_tiles.json.
//
// Usage:
//
//	gotiles SIZE [SIZE...] < leaves
//
// The input is the log's leaves in order, each as a 4-byte big-endian length
// and the leaf's bytes. For every SIZE (at most the number of leaves) it
// prints every tile of height 8 of the tree of that size (tlog.NewTiles from
// size 0): its Go path (tile/8/L/N[.p/W]) and the SHA-256 of its bytes
// (tlog.ReadTileData over the hashes tlog.StoredHashes stored).
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

type memTree struct{ stored []tlog.Hash }

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.stored)) {
			return nil, fmt.Errorf("stored hash %d not present", x)
		}
		out[i] = m.stored[x]
	}
	return out, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gotiles: "+format+"\n", args...)
	os.Exit(1)
}

type tileOut struct {
	Path   string `json:"path"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func main() {
	var sizes []int64
	for _, arg := range os.Args[1:] {
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || n < 0 {
			fail("bad size %q", arg)
		}
		sizes = append(sizes, n)
	}
	in := bufio.NewReader(os.Stdin)
	var leaves [][]byte
	for {
		var n uint32
		if err := binary.Read(in, binary.BigEndian, &n); err == io.EOF {
			break
		} else if err != nil {
			fail("reading a length: %v", err)
		}
		leaf := make([]byte, n)
		if _, err := io.ReadFull(in, leaf); err != nil {
			fail("reading a leaf: %v", err)
		}
		leaves = append(leaves, leaf)
	}
	tree := &memTree{}
	for i, leaf := range leaves {
		hs, err := tlog.StoredHashes(int64(i), leaf, tree)
		if err != nil {
			fail("StoredHashes(%d): %v", i, err)
		}
		tree.stored = append(tree.stored, hs...)
	}
	out := map[string][]tileOut{}
	for _, size := range sizes {
		if size > int64(len(leaves)) {
			fail("size %d is more than the %d leaves given", size, len(leaves))
		}
		tiles := []tileOut{}
		for _, t := range tlog.NewTiles(8, 0, size) {
			data, err := tlog.ReadTileData(t, tree)
			if err != nil {
				fail("ReadTileData(%s): %v", t.Path(), err)
			}
			sum := sha256.Sum256(data)
			tiles = append(tiles, tileOut{t.Path(), len(data), hex.EncodeToString(sum[:])})
		}
		out[strconv.FormatInt(size, 10)] = tiles
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fail("writing JSON: %v", err)
	}
}
