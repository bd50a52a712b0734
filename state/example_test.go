package state_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/lovoo/goka"
	"github.com/shopstream/streams/state"
)

// A processor keeps its group table, and a view its table, in Pebble.
func ExampleNewBuilder() {
	builder, err := state.NewBuilder("/var/lib/shopstream/state",
		state.WithCacheSize(512<<20), // shared by all partitions of this builder
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = []goka.ProcessorOption{goka.WithStorageBuilder(builder)}
	_ = []goka.ViewOption{goka.WithViewStorageBuilder(builder)}
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "state-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := state.Open(filepath.Join(dir, "orders.0"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// Recovery: goka replays the table topic, then marks it recovered.
	_ = st.Set("order-1", []byte(`{"status":"paid"}`))
	_ = st.SetOffset(41)
	_ = st.MarkRecovered()

	v, _ := st.Get("order-1")
	offset, _ := st.GetOffset(-1)
	fmt.Println(string(v), offset)
	// Output: {"status":"paid"} 41
}
