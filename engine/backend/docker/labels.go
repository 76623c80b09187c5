package docker

import (
	"maps"

	"github.com/icsrange/icsrange/engine/backend"
)

// Labels on every container and network the backend makes.
const (
	LabelExercise = "icsrange.exercise"
	LabelScenario = "icsrange.scenario" // the scenario's id (plants made before it have none)
	LabelTeam     = "icsrange.team"
	LabelRole     = "icsrange.role" // plc, host, router, network
	LabelID       = "icsrange.id"   // PLC, host or zone id; "router"; "access"
	LabelZone     = "icsrange.zone"
)

// Container roles.
const (
	RolePLC     = "plc"
	RoleHost    = "host"
	RoleRouter  = "router"
	RoleNetwork = "network"
	RoleToken   = "token" // the token volume
)

// planLabels are the labels every container, network and volume of the
// exercise carries: what icsrange ps and down --exercise find them by,
// with no data dir.
func planLabels(plan backend.Plan) map[string]string {
	l := map[string]string{LabelExercise: plan.ExerciseID}
	if plan.Scenario != "" {
		l[LabelScenario] = plan.Scenario
	}
	return l
}

// withLabels is base and the key, value pairs kv.
func withLabels(base map[string]string, kv ...string) map[string]string {
	l := make(map[string]string, len(base)+len(kv)/2)
	maps.Copy(l, base)
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}
