package scenario

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// SchemaID is the schema's $id.
const SchemaID = "https://github.com/icsrange/icsrange/scenarios/schema.json"

// Schema generates the JSON Schema of the scenario format from the Go
// types. srcDir, if set, is this package's source directory: field
// descriptions are taken from the doc comments there.
func Schema(srcDir string) ([]byte, error) {
	r := &jsonschema.Reflector{FieldNameTag: "yaml"}
	if srcDir != "" {
		if err := r.AddGoComments("github.com/icsrange/icsrange/engine/scenario", srcDir); err != nil {
			return nil, fmt.Errorf("read doc comments: %w", err)
		}
	}
	s := r.Reflect(&Spec{})
	s.ID = SchemaID
	s.Title = "icsrange scenario"
	s.Description = "An icsrange exercise scenario (format version 1). See docs/scenario-reference.md."
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// JSONSchemaExtend lists the models an editor may offer.
func (PLCSpec) JSONSchemaExtend(s *jsonschema.Schema) {
	if m, ok := s.Properties.Get("model"); ok {
		for _, n := range plantsim.ModelNames() {
			m.Enum = append(m.Enum, n)
		}
	}
}

// JSONSchemaExtend lists the host roles.
func (HostSpec) JSONSchemaExtend(s *jsonschema.Schema) {
	if r, ok := s.Properties.Get("role"); ok {
		r.Enum = []any{"attacker", "workstation", "hmi"}
	}
}

// JSONSchemaExtend lists the objective states a test may expect.
func (ExpectSpec) JSONSchemaExtend(s *jsonschema.Schema) {
	if o, ok := s.Properties.Get("objectives"); ok {
		o.AdditionalProperties = &jsonschema.Schema{Type: "string", Enum: []any{"achieved", "failed", "pending"}}
	}
}

// JSONSchemaExtend lists the objective categories.
func (ObjectiveSpec) JSONSchemaExtend(s *jsonschema.Schema) {
	if c, ok := s.Properties.Get("category"); ok {
		for _, n := range ObjectiveCategories {
			c.Enum = append(c.Enum, n)
		}
	}
}
