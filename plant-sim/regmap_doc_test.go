package plantsim

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/register-maps.md")

// docs/register-maps.md must say what the models are.
func TestRegisterMapsDoc(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMapsMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	const path = "../docs/register-maps.md"
	if *updateDocs {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("%s is out of date: go test ./plant-sim -run TestRegisterMapsDoc -update-docs", path)
	}
}
