// Command tiles reads a chainlog log as any C2SP tlog-tiles client does, with code nobody at chainlog
// wrote: filippo.io/torchwood's TileFetcher and Client over HTTP, golang.org/x/mod/sumdb/tlog's
// TileHashReader for proofs, golang.org/x/mod/sumdb/note for the checkpoint's signature, and
// github.com/transparency-dev/formats/proof for receipts (c2sp.org/tlog-proof). It reads one JSON request
// on stdin and writes one JSON report on stdout; a check that fails is reported, not fatal.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"filippo.io/torchwood"
	"github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type receiptCheck struct {
	Proof string `json:"proof"`
	Leaf  string `json:"leaf"` // hex of the leaf bytes, recomputed by the caller from the event
}

type request struct {
	Prefix        string         `json:"prefix"` // https://host/tlog/<sourceAppId>/
	APIKey        string         `json:"apiKey"` // sent as x-api-key; empty for a public log
	VerifierKey   string         `json:"verifierKey"`
	OldCheckpoint string         `json:"oldCheckpoint"`
	Samples       []int64        `json:"samples"`
	Leaves        []string       `json:"leaves"` // hex of every leaf the caller logged, by index
	Receipts      []receiptCheck `json:"receipts"`
}

type check struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type report struct {
	Checkpoint  check   `json:"checkpoint"`
	Size        int64   `json:"size"`
	Consistency check   `json:"consistency"`
	Inclusion   []check `json:"inclusion"`
	Entries     check   `json:"entries"`
	EntriesRead int64   `json:"entriesRead"`
	Receipts    []check `json:"receipts"`
}

type withKey struct {
	key  string
	next http.RoundTripper
}

func (t withKey) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.key != "" {
		r = r.Clone(r.Context())
		r.Header.Set("x-api-key", t.key)
	}
	return t.next.RoundTrip(r)
}

func result(err error) check {
	if err != nil {
		return check{Error: err.Error()}
	}
	return check{OK: true}
}

// openCheckpoint verifies the note's signature and parses its body (c2sp.org/tlog-checkpoint).
func openCheckpoint(text []byte, verifier note.Verifier) (torchwood.Checkpoint, error) {
	n, err := note.Open(text, note.VerifierList(verifier))
	if err != nil {
		return torchwood.Checkpoint{}, fmt.Errorf("note: %w", err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return torchwood.Checkpoint{}, err
	}
	if c.Origin != verifier.Name() {
		return torchwood.Checkpoint{}, fmt.Errorf("origin %q, want %q", c.Origin, verifier.Name())
	}
	return c, nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	verifier, err := note.NewVerifier(req.VerifierKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad verifier key:", err)
		os.Exit(2)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: withKey{req.APIKey, http.DefaultTransport}}
	fetcher, err := torchwood.NewTileFetcher(req.Prefix, torchwood.WithHTTPClient(hc))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	var out report

	text, err := fetcher.ReadEndpoint(ctx, "checkpoint")
	var cp torchwood.Checkpoint
	if err == nil {
		cp, err = openCheckpoint(text, verifier)
	}
	out.Checkpoint = result(err)
	if err != nil {
		emit(out)
		return
	}
	out.Size = cp.N
	hashes := torchwood.TileHashReaderWithContext(ctx, cp.Tree, fetcher)

	if req.OldCheckpoint != "" {
		old, err := openCheckpoint([]byte(req.OldCheckpoint), verifier)
		if err == nil {
			var p tlog.TreeProof
			if p, err = tlog.ProveTree(cp.N, old.N, hashes); err == nil {
				err = tlog.CheckTree(p, cp.N, cp.Hash, old.N, old.Hash)
			}
		}
		out.Consistency = result(err)
	}

	leaf := func(i int64) ([]byte, error) {
		if i < 0 || i >= int64(len(req.Leaves)) {
			return nil, fmt.Errorf("no leaf %d given", i)
		}
		return hex.DecodeString(req.Leaves[i])
	}
	for _, i := range req.Samples {
		data, err := leaf(i)
		if err == nil {
			var p tlog.RecordProof
			if p, err = tlog.ProveRecord(cp.N, i, hashes); err == nil {
				err = tlog.CheckRecord(p, cp.N, cp.Hash, i, tlog.RecordHash(data))
			}
		}
		out.Inclusion = append(out.Inclusion, result(err))
	}

	// Every entry, from the bundles, each checked by the client against the tiles; then against the leaves.
	client, err := torchwood.NewClient(fetcher)
	if err == nil {
		for out.EntriesRead < cp.N && err == nil {
			before := out.EntriesRead
			for i, entry := range client.Entries(ctx, cp.Tree, out.EntriesRead) {
				want, lerr := leaf(i)
				if lerr != nil || hex.EncodeToString(want) != hex.EncodeToString(entry) {
					err = fmt.Errorf("entry %d is not the leaf logged", i)
					break
				}
				out.EntriesRead = i + 1
			}
			if err == nil {
				err = client.Err()
			}
			if err == nil && out.EntriesRead == before {
				err = fmt.Errorf("no progress at entry %d", before)
			}
		}
	}
	out.Entries = result(err)

	for _, r := range req.Receipts {
		out.Receipts = append(out.Receipts, result(checkReceipt(r, verifier)))
	}
	emit(out)
}

// checkReceipt parses a tlog-proof with transparency-dev/formats and verifies it with x/mod/sumdb.
func checkReceipt(r receiptCheck, verifier note.Verifier) error {
	var p proof.TLogProof
	if err := p.Unmarshal([]byte(r.Proof)); err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	cp, err := openCheckpoint(p.Checkpoint, verifier)
	if err != nil {
		return err
	}
	data, err := hex.DecodeString(r.Leaf)
	if err != nil {
		return err
	}
	rp := make(tlog.RecordProof, len(p.Hashes))
	for i, h := range p.Hashes {
		rp[i] = tlog.Hash(h)
	}
	return tlog.CheckRecord(rp, cp.N, cp.Hash, int64(p.Index), tlog.RecordHash(data))
}

func emit(out report) {
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(2)
	}
}
