// Package scenario holds the scenario file format: the YAML spec types and
// a loader that decodes a file, validates it (reporting every problem at
// FILE:LINE:COL), fills its defaults and compiles it, rules into
// ready-to-run expr programs, into a Scenario.
package scenario

// FormatVersion is the scenario format this package reads.
const FormatVersion = 1

// Spec is a scenario file as written. Load turns it into a Scenario.
type Spec struct {
	// Scenario identifier: lowercase letters, digits and dashes.
	ID string `yaml:"id"`
	// Format version; must be 1.
	Version int `yaml:"version"`
	// Title shown to everyone.
	Title Text `yaml:"title"`
	// Briefing shown to teams before and during the exercise.
	Description Text `yaml:"description,omitempty"`
	// Exercise length on the exercise clock, e.g. 45m.
	Duration Duration `yaml:"duration"`
	// How many teams the scenario supports.
	Teams TeamLimits `yaml:"teams,omitempty"`
	// The plant every team gets a copy of.
	Plant PlantSpec `yaml:"plant"`
	// Attack and narrative events.
	Injects []InjectSpec `yaml:"injects,omitempty"`
	// Responses trainees may take.
	Actions []ActionSpec `yaml:"actions,omitempty"`
	// Findings teams are asked for.
	Questions []QuestionSpec `yaml:"questions,omitempty"`
	// Hints teams can buy or the instructor can release.
	Hints []HintSpec `yaml:"hints,omitempty"`
	// What teams score on.
	Objectives []ObjectiveSpec `yaml:"objectives,omitempty"`
	// Scripted teams and the results they must get; run by `icsrange test`.
	Tests []TestSpec `yaml:"tests,omitempty"`
}

// TeamLimits bounds the number of teams.
type TeamLimits struct {
	// Fewest teams; default 1.
	Min int `yaml:"min,omitempty"`
	// Most teams; default 100.
	Max int `yaml:"max,omitempty"`
}

// PlantSpec describes one team's plant.
type PlantSpec struct {
	// Network zones (IEC 62443 / METI guideline), e.g. it, dmz, control.
	Zones []ZoneSpec `yaml:"zones"`
	// Allowed flows between zones. A flow not listed does not pass.
	Conduits []ConduitSpec `yaml:"conduits,omitempty"`
	// The PLCs and the processes they run.
	PLCs []PLCSpec `yaml:"plcs"`
	// Attacker, workstation and HMI hosts.
	Hosts []HostSpec `yaml:"hosts,omitempty"`
}

// ZoneSpec is a network zone.
type ZoneSpec struct {
	// Zone id, used by conduits, PLCs and hosts.
	ID string `yaml:"id"`
	// Display name.
	Title Text `yaml:"title,omitempty"`
}

// ConduitSpec allows traffic from one zone to another.
type ConduitSpec struct {
	// Source zone.
	From string `yaml:"from"`
	// Destination zone.
	To string `yaml:"to"`
	// Allowed TCP ports; empty means any.
	Ports []int `yaml:"ports,omitempty"`
}

// PLCSpec is one PLC.
type PLCSpec struct {
	// PLC id, used in rules as plant.<id>.<tag>.
	ID string `yaml:"id"`
	// Process model, one of those in docs/register-maps.md (water-tank,
	// reactor, breaker, dosing, pump-station, boiler, hvac).
	Model string `yaml:"model"`
	// Zone the PLC sits in.
	Zone string `yaml:"zone"`
	// Display name.
	Title Text `yaml:"title,omitempty"`
	// Model parameters (see `icsrange plc --model M --print-map`).
	Params map[string]float64 `yaml:"params,omitempty"`
	// Modbus unit id; default 1.
	UnitID int `yaml:"unit_id,omitempty"`
	// Logic scan period, 20ms..500ms; default 100ms.
	Scan Duration `yaml:"scan,omitempty"`
	// Sensor noise multiplier; default 1, 0 turns noise off.
	Noise *float64 `yaml:"noise,omitempty"`
	// Modbus frame deadline: a client that begins a request frame and does
	// not complete it this long after loses its connection; 1s..1m;
	// default 5s.
	FrameTimeout Duration `yaml:"frame_timeout,omitempty"`
}

// HostSpec is a non-PLC host.
type HostSpec struct {
	// Host id, used by effects (from:, host:) and rules (host.<id>.up).
	ID string `yaml:"id"`
	// attacker, workstation or hmi.
	Role string `yaml:"role"`
	// Zone the host sits in.
	Zone string `yaml:"zone"`
	// IPv4 address shown as the source of its traffic; default assigned.
	Address string `yaml:"address,omitempty"`
	// Display name.
	Title Text `yaml:"title,omitempty"`
}

// InjectSpec is an event on the exercise timeline. Exactly one of at,
// after, when and manual says when it fires; it fires once per team.
type InjectSpec struct {
	// Inject id, used by after:, fired() and since().
	ID string `yaml:"id"`
	// Short name shown on timelines (never the effects).
	Title Text `yaml:"title,omitempty"`
	// Fire at this exercise time.
	At *Duration `yaml:"at,omitempty"`
	// Fire a delay after another inject fired.
	After *AfterSpec `yaml:"after,omitempty"`
	// Fire when this rule first holds (an expr boolean).
	When string `yaml:"when,omitempty"`
	// Fire only when the instructor fires it.
	Manual bool `yaml:"manual,omitempty"`
	// Effects on the team's plant.
	Do []EffectSpec `yaml:"do,omitempty"`
	// Message shown to the team when it fires.
	Say Text `yaml:"say,omitempty"`
	// MITRE ATT&CK for ICS technique ids, e.g. T0836.
	Tags []string `yaml:"tags,omitempty"`
}

// AfterSpec chains an inject to another.
type AfterSpec struct {
	// The inject this one follows.
	Inject string `yaml:"inject"`
	// Delay after that inject fired; default 0.
	Delay Duration `yaml:"delay,omitempty"`
}

// ActionSpec is a response a team may take from its console.
type ActionSpec struct {
	// Action id, used by done().
	ID string `yaml:"id"`
	// Button label.
	Title Text `yaml:"title"`
	// What the action does, shown before confirming.
	Description Text `yaml:"description,omitempty"`
	// Effects on the team's plant.
	Do []EffectSpec `yaml:"do"`
	// Time before the action can be taken again; default: once only.
	Cooldown Duration `yaml:"cooldown,omitempty"`
	// Points the action costs each time it is taken.
	Cost int `yaml:"cost,omitempty"`
}

// QuestionSpec asks a team for a finding.
type QuestionSpec struct {
	// Question id, used by answered() and hints.
	ID string `yaml:"id"`
	// The question.
	Prompt Text `yaml:"prompt"`
	// How answers are checked.
	Answer MatcherSpec `yaml:"answer"`
	// Attempts allowed, 1..100; default 3.
	Attempts int `yaml:"attempts,omitempty"`
	// Points lost per wrong answer.
	Penalty int `yaml:"penalty,omitempty"`
	// Shown only once this rule holds (an expr boolean); default always.
	Visible string `yaml:"visible,omitempty"`
}

// MatcherSpec checks an answer. Exactly one of exact, number, one_of and
// regex is set.
type MatcherSpec struct {
	// The answer, compared after trimming spaces, case-insensitively unless case_sensitive.
	Exact *string `yaml:"exact,omitempty"`
	// A numeric answer.
	Number *float64 `yaml:"number,omitempty"`
	// Allowed distance from number.
	Tolerance float64 `yaml:"tolerance,omitempty"`
	// Any of these answers (compared like exact).
	OneOf []string `yaml:"one_of,omitempty"`
	// A regular expression (RE2) the whole answer must match.
	Regex string `yaml:"regex,omitempty"`
	// Compare exact and one_of answers case-sensitively.
	CaseSensitive bool `yaml:"case_sensitive,omitempty"`
}

// HintSpec is a hint. Teams may request it (paying its cost) unless
// request is false; the instructor can always release it; at releases it
// to every team at a time for free.
type HintSpec struct {
	// Hint id.
	ID string `yaml:"id"`
	// What the hint is about, shown before it is bought ("Which register
	// to read"); default: the question's prompt or objective's title it is
	// for. Never give the answer away here.
	Title Text `yaml:"title,omitempty"`
	// The question or objective the hint helps with.
	For string `yaml:"for,omitempty"`
	// Points a team pays when it requests the hint.
	Cost int `yaml:"cost,omitempty"`
	// The hint.
	Text Text `yaml:"text"`
	// Release to every team at this exercise time, free.
	At *Duration `yaml:"at,omitempty"`
	// Whether teams may request it; default true.
	Request *bool `yaml:"request,omitempty"`
}

// ObjectiveSpec is something a team scores on.
//
// With when: achieved the first time when holds (for the for: duration if
// given), worth points plus bonus. With fail_when: failed the first time it
// holds before being achieved. With only fail_when: achieved at the end if
// it never failed (e.g. "keep the plant safe").
type ObjectiveSpec struct {
	// Objective id, used by achieved() and failed().
	ID string `yaml:"id"`
	// Display name.
	Title Text `yaml:"title,omitempty"`
	// What the objective measures, for the debrief: detect, attribute,
	// contain, recover or safety. The report's time-to-detect and
	// time-to-contain come from the first detect and contain objectives.
	Category string `yaml:"category,omitempty"`
	// Points when achieved.
	Points int `yaml:"points"`
	// Achievement rule (expr boolean).
	When string `yaml:"when,omitempty"`
	// How long when must hold without a break.
	For Duration `yaml:"for,omitempty"`
	// Failure rule (expr boolean).
	FailWhen string `yaml:"fail_when,omitempty"`
	// Points lost when failed.
	Penalty int `yaml:"penalty,omitempty"`
	// Extra points at achievement (expr number, e.g. a time bonus that decays); negative results count as 0.
	Bonus string `yaml:"bonus,omitempty"`
	// Partial credit: tiers awarded once each when their rule holds; the total never exceeds points.
	Partial []PartialSpec `yaml:"partial,omitempty"`
}

// PartialSpec is one partial-credit tier.
type PartialSpec struct {
	// Rule (expr boolean).
	When string `yaml:"when"`
	// Points for reaching the tier.
	Points int `yaml:"points"`
}

// TestSpec is a scripted team and what it must end with.
type TestSpec struct {
	// Test name.
	Name string `yaml:"name"`
	// What the team does, in time order.
	Steps []StepSpec `yaml:"steps,omitempty"`
	// Expected results at the end.
	Expect ExpectSpec `yaml:"expect"`
}

// StepSpec is one scripted move at a time. Exactly one move per step.
type StepSpec struct {
	// Exercise time of the move.
	At Duration `yaml:"at"`
	// Answer questions: question id → answer.
	Answer map[string]string `yaml:"answer,omitempty"`
	// Take an action.
	Act string `yaml:"act,omitempty"`
	// Request a hint.
	Hint string `yaml:"hint,omitempty"`
	// Fire a manual inject (as the instructor).
	Fire string `yaml:"fire,omitempty"`
	// Write a holding register over Modbus, as a trainee's tool would.
	ModbusWrite *TraineeWrite `yaml:"modbus_write,omitempty"`
	// Write a coil over Modbus, as a trainee's tool would.
	CoilWrite *TraineeWrite `yaml:"coil_write,omitempty"`
	// Instructor score adjustment.
	Adjust *AdjustSpec `yaml:"adjust,omitempty"`
}

// TraineeWrite is a Modbus write a scripted trainee makes.
type TraineeWrite struct {
	// PLC id.
	PLC string `yaml:"plc"`
	// Holding register tag (modbus_write).
	Register string `yaml:"register,omitempty"`
	// Coil tag (coil_write).
	Coil string `yaml:"coil,omitempty"`
	// Engineering value (true/false or 1/0 for coils).
	Value Number `yaml:"value"`
}

// AdjustSpec is an instructor's score adjustment.
type AdjustSpec struct {
	// Points to add (negative to subtract).
	Points int `yaml:"points"`
	// Reason shown to the team.
	Reason string `yaml:"reason"`
}

// ExpectSpec is what a test expects at the end.
type ExpectSpec struct {
	// Objective id → achieved, failed or pending.
	Objectives map[string]string `yaml:"objectives,omitempty"`
	// Exact final score.
	Score *int `yaml:"score,omitempty"`
	// Injects that must have fired.
	Fired []string `yaml:"fired,omitempty"`
	// Injects that must not have fired.
	NotFired []string `yaml:"not_fired,omitempty"`
}
