// A MongoDB-wire-compatible test server: FerretDB embedded with its SQLite backend.
// Used by the test suites and `npm run mongo:test-server`; never in production.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	data := flag.String("data", "", "data directory (required)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	// Test runners pass this so an orphaned server exits when its parent dies (stdin reaches EOF).
	exitOnStdinEOF := flag.Bool("exit-on-stdin-eof", false, "exit when stdin is closed")
	flag.Parse()

	if *data == "" {
		fmt.Fprintln(os.Stderr, "-data is required")
		os.Exit(2)
	}
	dir, err := filepath.Abs(*data)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		// WAL with synchronous=normal survives a crash of this process, not of the machine: enough for tests.
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(normal)",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *exitOnStdinEOF {
		go func() {
			r := bufio.NewReader(os.Stdin)
			for {
				if _, err := r.ReadByte(); err != nil {
					stop()
					return
				}
			}
		}()
	}

	done := make(chan struct{})
	go func() {
		_ = f.Run(ctx)
		close(done)
	}()

	// Run initialises the listener; MongoDBURI blocks until it is up, so this line means "ready".
	fmt.Printf("listening %s\n", f.MongoDBURI())
	<-done
}
