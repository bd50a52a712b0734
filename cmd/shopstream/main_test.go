package main

import (
	"os"
	"testing"
)

// TestMain lets a test start this test binary as the shopstream command
// itself (SHOPSTREAM_TEST_AS_MAIN=1), so scale-out tests run real separate
// processes without building the binary first.
func TestMain(m *testing.M) {
	if os.Getenv("SHOPSTREAM_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	// The processes these tests start must not write into a shared
	// database: their brokers are new each time, so sink offsets stored by
	// one run would be wrong for the next. The sinks are tested against
	// PostgreSQL in views/sinks; here they are off (and that path is tested).
	if os.Getenv("SHOPSTREAM_CMD_TEST_DATABASE_URL") == "" {
		os.Setenv("DATABASE_URL", "postgres://shopstream@127.0.0.1:1/none?connect_timeout=1")
	} else {
		os.Setenv("DATABASE_URL", os.Getenv("SHOPSTREAM_CMD_TEST_DATABASE_URL"))
	}
	os.Exit(m.Run())
}
