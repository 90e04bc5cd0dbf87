// Command witness-interop drives chainlog's C2SP witness with third-party code: it submits
// add-checkpoint requests over HTTP as a log would (c2sp.org/tlog-witness), and verifies the
// cosignatures it gets back with github.com/transparency-dev/formats (cosignature/v1 verifier) and
// golang.org/x/mod/sumdb/note. It also cosigns with filippo.io/torchwood's CosignatureSigner, so the
// caller can compare chainlog's cosignatures with torchwood's byte for byte. It reads one JSON request
// on stdin and writes one JSON response.
package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"filippo.io/torchwood"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

type submission struct {
	Old   uint64   `json:"old"`
	Proof []string `json:"proof"` // base64 lines as sent
	Note  string   `json:"note"`
}

type submitResult struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
	// For 200: whether formats' cosignature/v1 verifier and x/mod's note.Open accepted the
	// cosigned note, and the timestamp torchwood and formats read from the cosignature.
	Verified           bool   `json:"verified"`
	VerifyError        string `json:"verifyError,omitempty"`
	TimestampFormats   int64  `json:"timestampFormats,omitempty"`
	TimestampTorchwood int64  `json:"timestampTorchwood,omitempty"`
}

type torchwoodSign struct {
	SeedHex string `json:"seedHex"`
	Name    string `json:"name"`
	Body    string `json:"body"`
}

type torchwoodSigned struct {
	VerifierKey string `json:"verifierKey"`
	// The signature line torchwood wrote, and its timestamp.
	Line      string `json:"line"`
	Timestamp int64  `json:"timestamp"`
}

type request struct {
	WitnessURL  string          `json:"witnessUrl"` // submission prefix
	WitnessKey  string          `json:"witnessKey"`
	LogKey      string          `json:"logKey"`
	Submissions []submission    `json:"submissions"`
	Sign        []torchwoodSign `json:"sign"`
}

type response struct {
	Submissions []submitResult    `json:"submissions"`
	Signed      []torchwoodSigned `json:"signed"`
}

func submit(client *http.Client, req request, s submission) (submitResult, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", s.Old)
	for _, p := range s.Proof {
		fmt.Fprintf(&body, "%s\n", p)
	}
	body.WriteString("\n")
	body.WriteString(s.Note)
	resp, err := client.Post(strings.TrimSuffix(req.WitnessURL, "/")+"/add-checkpoint", "", &body)
	if err != nil {
		return submitResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return submitResult{}, err
	}
	r := submitResult{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(b)}
	if resp.StatusCode != http.StatusOK {
		return r, nil
	}
	if err := verify(req, s.Note, string(b), &r); err != nil {
		r.VerifyError = err.Error()
	} else {
		r.Verified = true
	}
	return r, nil
}

// verify appends the witness's signature lines to the log-signed note, as tlog-witness suggests a
// client does, and opens it with the log's key and the witness's cosignature/v1 key.
func verify(req request, logNote, lines string, r *submitResult) error {
	logVerifier, err := note.NewVerifier(req.LogKey)
	if err != nil {
		return fmt.Errorf("log key: %w", err)
	}
	witnessVerifier, err := fnote.NewVerifierForCosignatureV1(req.WitnessKey)
	if err != nil {
		return fmt.Errorf("witness key: %w", err)
	}
	n, err := note.Open([]byte(logNote+lines), note.VerifierList(logVerifier, witnessVerifier))
	if err != nil {
		return err
	}
	for _, sig := range n.Sigs {
		if sig.Name != witnessVerifier.Name() || sig.Hash != witnessVerifier.KeyHash() {
			continue
		}
		t, err := fnote.CoSigV1Timestamp(sig)
		if err != nil {
			return err
		}
		r.TimestampFormats = t.Unix()
		tt, err := torchwood.CosignatureTimestamp(sig)
		if err != nil {
			return err
		}
		r.TimestampTorchwood = tt
		return nil
	}
	return fmt.Errorf("no verified signature by the witness")
}

func sign(s torchwoodSign) (torchwoodSigned, error) {
	seed, err := hex.DecodeString(s.SeedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		return torchwoodSigned{}, fmt.Errorf("bad seed")
	}
	signer, err := torchwood.NewCosignatureSigner(s.Name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return torchwoodSigned{}, err
	}
	signed, err := note.Sign(&note.Note{Text: s.Body}, signer)
	if err != nil {
		return torchwoodSigned{}, err
	}
	line := strings.TrimPrefix(string(signed), s.Body+"\n")
	n, err := note.Open(signed, note.VerifierList(signer.Verifier()))
	if err != nil {
		return torchwoodSigned{}, err
	}
	t, err := torchwood.CosignatureTimestamp(n.Sigs[0])
	if err != nil {
		return torchwoodSigned{}, err
	}
	return torchwoodSigned{VerifierKey: signer.Verifier().String(), Line: line, Timestamp: t}, nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	out := response{Submissions: []submitResult{}, Signed: []torchwoodSigned{}}
	for _, s := range req.Submissions {
		r, err := submit(client, req, s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out.Submissions = append(out.Submissions, r)
	}
	for _, s := range req.Sign {
		r, err := sign(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out.Signed = append(out.Signed, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
