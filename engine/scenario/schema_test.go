package scenario

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite scenarios/schema.json")

const schemaPath = "../../scenarios/schema.json"

// The committed schema must be what the Go types generate, so editors check
// scenario files against the format the loader actually reads.
func TestSchemaCurrent(t *testing.T) {
	got, err := Schema(".")
	if err != nil {
		t.Fatal(err)
	}
	if *updateSchema {
		if err := os.WriteFile(schemaPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatalf("%v (run make schema)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the Go types: run make schema", schemaPath)
	}
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	defs, _ := doc["$defs"].(map[string]any)
	for _, name := range []string{"Spec", "InjectSpec", "ObjectiveSpec", "PLCSpec"} {
		if _, ok := defs[name]; !ok {
			t.Errorf("schema has no definition of %s", name)
		}
	}
	inj, _ := defs["InjectSpec"].(map[string]any)
	if inj["additionalProperties"] != false {
		t.Error("InjectSpec must reject unknown fields, as the loader does")
	}
	props, _ := inj["properties"].(map[string]any)
	when, _ := props["when"].(map[string]any)
	if when["description"] == nil || when["description"] == "" {
		t.Error("field descriptions missing: doc comments were not read")
	}
}

// Every shipped scenario validates against the committed schema with a
// real JSON Schema validator, so what editors check is what the loader reads.
func TestShippedScenariosMatchSchema(t *testing.T) {
	files, _ := filepath.Glob("../../scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no shipped scenarios")
	}
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, data []byte) error {
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			return err
		}
		return sch.Validate(inst)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(f, data); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := check(f, data); err != nil {
			t.Errorf("%s does not match the schema: %v", f, err)
		}
	}
	// And the schema does reject what the loader rejects.
	for name, bad := range map[string]string{
		"unknown field":   "id: x\nversion: 1\ntitle: t\nduration: 5m\nplant: {zones: [{id: a}], plcs: [{id: p, model: water-tank, zone: a}]}\ncolour: red\n",
		"unknown model":   "id: x\nversion: 1\ntitle: t\nduration: 5m\nplant: {zones: [{id: a}], plcs: [{id: p, model: fusion, zone: a}]}\n",
		"bad effect kind": "id: x\nversion: 1\ntitle: t\nduration: 5m\nplant: {zones: [{id: a}], plcs: [{id: p, model: water-tank, zone: a}]}\ninjects: [{id: i, at: 1m, do: [{explode: {plc: p}}]}]\n",
		"bad duration":    "id: x\nversion: 1\ntitle: t\nduration: soon\nplant: {zones: [{id: a}], plcs: [{id: p, model: water-tank, zone: a}]}\n",
	} {
		if err := check(name, []byte(bad)); err == nil {
			t.Errorf("schema accepts a scenario with an %s", name)
		}
	}
}
