// Command interop checks chainlog's checkpoints and proofs with independent Go implementations:
// golang.org/x/mod/sumdb/note for signed notes and transparency-dev/merkle for RFC 9162 proofs
// and compact ranges. It reads one JSON request on stdin and writes one result per check.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

type checkpointCheck struct {
	Note string `json:"note"`
}

type inclusionCheck struct {
	LeafBytes string   `json:"leafBytes"` // hex; the leaf hash is recomputed here
	Index     uint64   `json:"index"`
	Size      uint64   `json:"size"`
	Proof     []string `json:"proof"`
	Root      string   `json:"root"`
}

type consistencyCheck struct {
	Size1 uint64   `json:"size1"`
	Size2 uint64   `json:"size2"`
	Proof []string `json:"proof"`
	Root1 string   `json:"root1"`
	Root2 string   `json:"root2"`
}

type rangeCheck struct {
	Start      uint64   `json:"start"`
	End        uint64   `json:"end"`
	Size       uint64   `json:"size"`
	LeafHashes []string `json:"leafHashes"`
	Left       []string `json:"left"`
	Right      []string `json:"right"`
	Root       string   `json:"root"`
}

type request struct {
	VerifierKey string             `json:"verifierKey"`
	Checkpoints []checkpointCheck  `json:"checkpoints"`
	Inclusion   []inclusionCheck   `json:"inclusion"`
	Consistency []consistencyCheck `json:"consistency"`
	Ranges      []rangeCheck       `json:"ranges"`
}

// result of one check; for checkpoints Size and Root echo what Go parsed.
type result struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Size  uint64 `json:"size,omitempty"`
	Root  string `json:"root,omitempty"`
}

type response struct {
	Checkpoints []result `json:"checkpoints"`
	Inclusion   []result `json:"inclusion"`
	Consistency []result `json:"consistency"`
	Ranges      []result `json:"ranges"`
}

func decodeAll(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func toResult(err error) result {
	if err != nil {
		return result{OK: false, Error: err.Error()}
	}
	return result{OK: true}
}

func openCheckpoint(verifiers note.Verifiers, c checkpointCheck) result {
	n, err := note.Open([]byte(c.Note), verifiers)
	if err != nil {
		return toResult(err)
	}
	// Minimal tlog-checkpoint body parse: origin, size, base64 root.
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return toResult(errors.New("checkpoint body too short"))
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return toResult(err)
	}
	return result{OK: true, Size: size, Root: lines[2]}
}

func checkInclusion(c inclusionCheck) error {
	leaf, err := hex.DecodeString(c.LeafBytes)
	if err != nil {
		return err
	}
	p, err := decodeAll(c.Proof)
	if err != nil {
		return err
	}
	root, err := hex.DecodeString(c.Root)
	if err != nil {
		return err
	}
	h := rfc6962.DefaultHasher
	return proof.VerifyInclusion(h, c.Index, c.Size, h.HashLeaf(leaf), p, root)
}

func checkConsistency(c consistencyCheck) error {
	p, err := decodeAll(c.Proof)
	if err != nil {
		return err
	}
	r1, err1 := hex.DecodeString(c.Root1)
	r2, err2 := hex.DecodeString(c.Root2)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, c.Size1, c.Size2, p, r1, r2)
}

func checkRange(c rangeCheck) error {
	leaves, err1 := decodeAll(c.LeafHashes)
	left, err2 := decodeAll(c.Left)
	right, err3 := decodeAll(c.Right)
	root, err4 := hex.DecodeString(c.Root)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	if uint64(len(leaves)) != c.End-c.Start {
		return fmt.Errorf("got %d leaves for [%d, %d)", len(leaves), c.Start, c.End)
	}
	f := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r, err := f.NewRange(0, c.Start, left)
	if err != nil {
		return err
	}
	for _, l := range leaves {
		if err := r.Append(l, nil); err != nil {
			return err
		}
	}
	tail, err := f.NewRange(c.End, c.Size, right)
	if err != nil {
		return err
	}
	if err := r.AppendRange(tail, nil); err != nil {
		return err
	}
	got, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	if hex.EncodeToString(got) != hex.EncodeToString(root) {
		return errors.New("range root mismatch")
	}
	return nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	v, err := note.NewVerifier(req.VerifierKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "verifier key rejected:", err)
		os.Exit(3)
	}
	verifiers := note.VerifierList(v)

	var res response
	for _, c := range req.Checkpoints {
		res.Checkpoints = append(res.Checkpoints, openCheckpoint(verifiers, c))
	}
	for _, c := range req.Inclusion {
		res.Inclusion = append(res.Inclusion, toResult(checkInclusion(c)))
	}
	for _, c := range req.Consistency {
		res.Consistency = append(res.Consistency, toResult(checkConsistency(c)))
	}
	for _, c := range req.Ranges {
		res.Ranges = append(res.Ranges, toResult(checkRange(c)))
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		os.Exit(4)
	}
}
