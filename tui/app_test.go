package tui

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/tui/common"
)

// ---- fixtures ----

func txt(en, ja string) scenario.Text { return scenario.Text{En: en, Ja: ja} }

func ptr[T any](v T) *T { return &v }

// fixtureView is a hand-made team view with something of everything: two
// PLCs with tags of every table (one alarm bit on), questions (open,
// answered, out of attempts), actions (ready, on cooldown, with a cost,
// used), hints (released with text, requestable with a cost).
func fixtureView() engine.TeamView {
	return engine.TeamView{
		Exercise: engine.ExerciseInfo{ID: "water-1", Scenario: "water", Title: txt("Water treatment drill", "浄水場演習"),
			Description: txt("A drill", "演習"), Phase: engine.PhaseRunning, ClockMS: 312_400, DurationMS: 2_700_000, Teams: 2},
		Team: "team-1", Score: 145, Rank: 1,
		Plant: []engine.PLCView{
			{ID: "intake", Title: txt("Raw-water intake tank", "原水受水槽"), Model: "water-tank", Zone: "control",
				Modbus: "127.0.0.1:40001", UnitID: 1, Online: true, Tags: []engine.TagView{
					{Name: "level", Table: "ir", Class: "process", Unit: "m", Value: 2.51, Min: 0, Max: 4, Address: 0},
					{Name: "inflow", Table: "ir", Class: "process", Unit: "m3/h", Value: 60, Min: 0, Max: 100, Address: 1},
					{Name: "level_hh", Table: "di", Class: "alarm", Value: 1, Max: 1, Address: 0},
					{Name: "level_h", Table: "di", Class: "alarm", Value: 0, Max: 1, Address: 1},
					{Name: "overflow", Table: "di", Class: "trip", Value: 0, Max: 1, Address: 2},
					{Name: "level_sp", Table: "hr", Class: "setpoint", Unit: "m", Value: 2.5, Min: 0, Max: 4, Address: 0},
					{Name: "pump1_run", Table: "co", Class: "command", Value: 1, Max: 1, Address: 0},
					{Name: "bypass", Table: "co", Class: "command", Value: 0, Max: 1, Address: 1},
				}},
			{ID: "clearwell", Title: txt("Clearwell (treated water)", "浄水池"), Model: "water-tank", Zone: "control",
				Modbus: "127.0.0.1:40002", UnitID: 2, Online: true, Tags: []engine.TagView{
					{Name: "level", Table: "ir", Class: "process", Unit: "m", Value: 3, Min: 0, Max: 5, Address: 0},
					{Name: "level_hh", Table: "di", Class: "alarm", Value: 0, Max: 1, Address: 0},
					{Name: "level_sp", Table: "hr", Class: "setpoint", Unit: "m", Value: 3, Min: 0, Max: 5, Address: 0},
					{Name: "auto", Table: "co", Class: "command", Value: 1, Max: 1, Address: 0},
				}},
		},
		Objectives: []engine.TeamObjective{
			{ObjectiveInfo: engine.ObjectiveInfo{ID: "detect", Title: txt("Detect the tampered register", "改ざんされたレジスタの特定"), Points: 100}, Status: "achieved", Earned: 145},
			{ObjectiveInfo: engine.ObjectiveInfo{ID: "safe", Title: txt("No overflow", "越流させない"), Points: 200}, Status: "pending"},
		},
		Questions: []engine.QuestionView{
			{ID: "register", Prompt: txt("Which holding register was changed?", "どの保持レジスタが変更されましたか？"), Attempts: 3, AttemptsLeft: 2, Penalty: 10},
			{ID: "source", Prompt: txt("Which IP address wrote it?", "書き込んだ送信元IPアドレスは？"), Attempts: 3, AttemptsLeft: 2, Penalty: 10, Answered: true},
			{ID: "technique", Prompt: txt("Which ATT&CK technique?", "どのATT&CK技術ですか？"), Attempts: 2, AttemptsLeft: 0, Penalty: 5},
		},
		Actions: []engine.ActionView{
			{ID: "isolate", Title: txt("Block the office-IT to control conduit", "事務系→制御系の通信を遮断"),
				Description: txt("Closes the remote-support path.", "遠隔保守経路を閉じます。"), Once: true, Ready: true},
			{ID: "restore", Title: txt("Restore the intake setpoint", "受水槽設定値を復元"), Taken: 1, Ready: false, ReadyInMS: 42_000},
			{ID: "restart-hmi", Title: txt("Reimage and restart the HMI", "HMIを再イメージして再起動"), Cost: 20, Ready: true},
			{ID: "report", Title: txt("Report to the regulator", "規制当局へ報告"), Taken: 1, Once: true, Ready: false},
		},
		Hints: []engine.HintView{
			{ID: "h-register", Title: txt("Which registers to compare", "どのレジスタを比べるか"), For: "register", Cost: 10, Requestable: true, Released: true,
				Text: ptr(txt("Read the holding registers and compare them with the map.", "保持レジスタを読み出してマップと比較してください。"))},
			{ID: "h-source", Title: txt("Who sent the writes", "書き込みの送信元"), For: "source", Cost: 15, Requestable: true},
		},
	}
}

func fixtureEvents() []engine.EventView {
	return []engine.EventView{
		{Seq: 3, ClockMS: 0, Kind: "exercise.started", Text: txt("Exercise started", "演習開始"), Level: "info"},
		{Seq: 7, ClockMS: 300_000, Team: "team-1", Kind: "inject.fired", Level: "alert",
			Text: txt("Network monitoring: unusual Modbus sessions on the control network.", "ネットワーク監視：制御系ネットワークで不審なModbusセッションを検知。")},
		{Seq: 9, ClockMS: 305_000, Team: "team-1", Kind: "objective.achieved", Level: "good", Points: 145,
			Text: txt("Objective achieved: Detect the tampered register", "目標達成: 改ざんされたレジスタの特定")},
	}
}

func fixtureSnapshot() SnapshotMsg {
	return SnapshotMsg{View: fixtureView(), Events: fixtureEvents(), Seq: 9,
		Trends: map[string][]float64{"intake.level": {2.4, 2.45, 2.5, 2.52, 2.51}, "intake.inflow": {60, 60, 61, 60, 60}}}
}

// sent is one command the model asked to send.
type sent struct {
	Kind string
	Data map[string]string
}

// fakeServer stands in for a Client: it records what the UI sends and
// replies with what the test chose; next is a Cmd the test can recognise.
type fakeServer struct {
	mu      sync.Mutex
	sent    []sent
	reply   common.Reply // Data and Err of the next reply; Kind is filled in
	nextMsg tea.Msg      // what next returns
	nexts   int          // how often next ran
}

type nextMarker struct{}

func newFake() *fakeServer { return &fakeServer{nextMsg: nextMarker{}} }

func (f *fakeServer) send(kind string, data any) tea.Cmd {
	b, _ := json.Marshal(data)
	var d map[string]string
	json.Unmarshal(b, &d)
	f.mu.Lock()
	f.sent = append(f.sent, sent{kind, d})
	r := f.reply
	f.mu.Unlock()
	return func() tea.Msg {
		r.Kind = kind
		return r
	}
}

func (f *fakeServer) next() tea.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nexts++
	return f.nextMsg
}

func (f *fakeServer) lastSent(t *testing.T) sent {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		t.Fatal("nothing was sent")
	}
	return f.sent[len(f.sent)-1]
}

func (f *fakeServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// ---- helpers ----

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

var (
	keyEnter    = tea.KeyMsg{Type: tea.KeyEnter}
	keyEsc      = tea.KeyMsg{Type: tea.KeyEsc}
	keyTab      = tea.KeyMsg{Type: tea.KeyTab}
	keyShiftTab = tea.KeyMsg{Type: tea.KeyShiftTab}
	keyDown     = tea.KeyMsg{Type: tea.KeyDown}
	keyCtrlC    = tea.KeyMsg{Type: tea.KeyCtrlC}
)

// newApp is a model at 80x24 that has had a snapshot and is connected.
func newApp(t *testing.T, lang string) (*Model, *fakeServer) {
	t.Helper()
	f := newFake()
	m := NewModel(lang, f.send, f.next)
	if m.Init() == nil {
		t.Fatal("Init does not start listening to the client")
	}
	update(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	isNext(t, f, update(t, m, ConnMsg{State: "connected"}))
	isNext(t, f, update(t, m, fixtureSnapshot()))
	return m, f
}

func update(t *testing.T, m *Model, msg tea.Msg) tea.Cmd {
	t.Helper()
	nm, cmd := m.Update(msg)
	if nm != m {
		t.Fatalf("Update returned another model %T", nm)
	}
	return cmd
}

// press sends keys one after the other and returns the last command.
func press(t *testing.T, m *Model, keys ...tea.KeyMsg) tea.Cmd {
	t.Helper()
	var cmd tea.Cmd
	for _, k := range keys {
		cmd = update(t, m, k)
	}
	return cmd
}

// isNext asserts cmd is the client's next (and runs it once).
func isNext(t *testing.T, f *fakeServer, cmd tea.Cmd) {
	t.Helper()
	if cmd == nil {
		t.Fatal("no command: the model stopped listening to the client")
	}
	before := f.nexts
	if _, ok := cmd().(nextMarker); !ok || f.nexts != before+1 {
		t.Fatal("the command is not the client's next")
	}
}

// isQuit reports whether cmd quits the program.
func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

// deliver runs a command (as bubbletea would) and feeds its messages back.
func deliver(t *testing.T, m *Model, cmd tea.Cmd) {
	t.Helper()
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			deliver(t, m, c)
		}
	case nil:
	default:
		update(t, m, msg)
	}
}

// screen renders the model and checks it fits the terminal.
func screen(t *testing.T, m *Model) string {
	t.Helper()
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) > m.c.Height || len(lines) < m.c.Height-1 {
		t.Errorf("the view has %d lines on a %d-line terminal", len(lines), m.c.Height)
	}
	for i, l := range lines {
		if w := lipgloss.Width(l); w > m.c.Width {
			t.Errorf("line %d is %d cells wide on a %d-column terminal: %q", i+1, w, m.c.Width, l)
		}
	}
	return v
}

func wantIn(t *testing.T, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("screen lacks %q:\n%s", w, s)
		}
	}
}

func wantNotIn(t *testing.T, s string, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if strings.Contains(s, w) {
			t.Errorf("screen has %q:\n%s", w, s)
		}
	}
}

// ---- tests ----

func TestAppBeforeData(t *testing.T) {
	f := newFake()
	m := NewModel("fr", f.send, f.next) // unknown languages fall back to English
	if m.c.Lang != "en" {
		t.Fatalf("lang %q", m.c.Lang)
	}
	s := screen(t, m)
	wantIn(t, s, "icsrange", "connecting…", "Waiting for the server…", "1 Plant", "6 Hints")
	for _, k := range []string{"2", "3", "4", "5", "6"} {
		press(t, m, runes(k))
		s := screen(t, m) // every page copes with no data yet
		if !strings.Contains(s, "Nothing has happened yet.") && !strings.Contains(s, "Waiting for the server…") &&
			!strings.Contains(s, "No questions yet.") && !strings.Contains(s, "No actions in this scenario.") && !strings.Contains(s, "No hints available.") {
			t.Errorf("page %s without data:\n%s", k, s)
		}
	}
	// Keys on empty lists do nothing (and don't panic).
	for _, k := range []string{"4", "5", "6"} {
		press(t, m, runes(k))
		if cmd := press(t, m, keyEnter, runes("y"), keyDown); cmd != nil {
			t.Errorf("page %s: a command without data", k)
		}
	}
	if f.count() != 0 {
		t.Fatalf("sent %v", f.sent)
	}
}

func TestAppPlant(t *testing.T) {
	m, _ := newApp(t, "en")
	s := screen(t, m)
	wantIn(t, s, "Water", "Team team-1", "running", "39:47 left", "Score 145", "Rank 1/2", "● connected",
		"intake", "Raw-water intake tank", "Modbus 127.0.0.1:40001 unit 1", "level", "2.51", "m3/h",
		"Alarms:", "level_hh", "pump1_run ●", "bypass ○", "level_sp 2.50m",
		"clearwell", "Modbus 127.0.0.1:40002 unit 2", "no alarms", "auto ●")
	// Only alarm bits that are on show; the sparkline has drawn the samples.
	wantNotIn(t, s, "level_h ", "overflow")
	if !strings.ContainsAny(s, "▁▂▃▄▅▆▇█") {
		t.Errorf("no sparkline:\n%s", s)
	}
}

func TestAppTabs(t *testing.T) {
	m, _ := newApp(t, "en")
	if m.active != pagePlant {
		t.Fatalf("starts on page %d", m.active)
	}
	want := []string{"Raw-water intake tank", "unusual Modbus sessions", "Detect the tampered register",
		"Which holding register", "Block the office-IT", "Which registers to compare", "No Modbus traffic yet."}
	for i := range pageKeys {
		if m.active != i {
			t.Fatalf("tab %d: on page %d", i, m.active)
		}
		wantIn(t, screen(t, m), want[i])
		press(t, m, keyTab)
	}
	if m.active != pagePlant {
		t.Fatalf("tab does not wrap: page %d", m.active)
	}
	press(t, m, keyShiftTab)
	if m.active != pageTraffic {
		t.Fatalf("shift+tab from the first page: page %d", m.active)
	}
	press(t, m, runes("l"))
	if m.active != pagePlant {
		t.Fatalf("l: page %d", m.active)
	}
	press(t, m, runes("h"), runes("h"))
	if m.active != pageHints {
		t.Fatalf("h h: page %d", m.active)
	}
	for i, k := range []string{"1", "2", "3", "4", "5", "6"} {
		press(t, m, runes(k))
		if m.active != i {
			t.Fatalf("key %s: page %d", k, m.active)
		}
		wantIn(t, screen(t, m), want[i])
	}
	// The feed page shows events with the clock, level and points.
	press(t, m, runes("2"))
	wantIn(t, screen(t, m), "0:00  Exercise started", "5:00  Network monitoring", "Objective achieved: Detect the tampered register (+145)")
	// Objectives: status and points.
	press(t, m, runes("3"))
	wantIn(t, screen(t, m), "✓ Detect the tampered register", "145/100  pts", "achieved", "No overflow", "pending")
}

func TestAppLanguage(t *testing.T) {
	m, _ := newApp(t, "en")
	press(t, m, runes("L"))
	if m.c.Lang != "ja" {
		t.Fatalf("L: lang %q", m.c.Lang)
	}
	s := screen(t, m)
	wantIn(t, s, "チーム team-1", "実施中", "残り", "得点 145", "順位 1/2", "接続済み",
		"プラント", "フィード", "目標", "設問", "対応", "ヒント",
		"原水受水槽", "浄水池", "ユニット 1", "警報:", "警報なし")
	// The footer's key help is translated too.
	wantIn(t, s, "次のページ", "終了")
	wantNotIn(t, s, "Raw-water", "Team ", "Score", "connected", "Plant", "no alarms", "next page", "quit")

	// Every page's UI strings and scenario texts are Japanese.
	pagesJa := map[string][]string{
		"2": {"ネットワーク監視", "目標達成: 改ざんされたレジスタの特定 (+145)"},
		"3": {"改ざんされたレジスタの特定", "達成", "越流させない", "未達成", "点"},
		"4": {"どの保持レジスタが変更されましたか？", "残り2回", "回答済み", "回答回数がありません", "誤答は10点の減点"},
		"5": {"事務系→制御系の通信を遮断", "実行可能", "あと42sで再実行可", "コスト 20", "実施済み", "遠隔保守経路を閉じます。"},
		"6": {"どのレジスタを比べるか", "公開済み", "保持レジスタを読み出してマップと比較してください。", "書き込みの送信元  コスト 15"},
	}
	for k, wants := range pagesJa {
		press(t, m, runes(k))
		s := screen(t, m)
		wantIn(t, s, wants...)
		wantNotIn(t, s, "Which", "Block the", "Read the holding", "attempt", "ready", "cost", "released", "Objective achieved", "h-register", "h-source")
	}
	// Dialogs and prompts too.
	press(t, m, runes("5"), keyEnter)
	wantIn(t, screen(t, m), "この対応を実行しますか？", "y = はい、n = いいえ")
	press(t, m, runes("n"), runes("4"), keyEnter)
	wantIn(t, screen(t, m), "回答を入力（Enterで送信、Escで取消）：")
	press(t, m, keyEsc)

	press(t, m, runes("L"))
	if m.c.Lang != "en" {
		t.Fatalf("L again: lang %q", m.c.Lang)
	}
	s = screen(t, m)
	wantIn(t, s, "Which holding register", "Team team-1", "next page")
	wantNotIn(t, s, "チーム", "次のページ")
}

func TestAppQuestions(t *testing.T) {
	m, f := newApp(t, "en")
	f.reply = common.Reply{Data: []byte(`{"correct":false,"penalty":10,"attempts_left":1}`)}
	press(t, m, runes("4"))
	if m.active != pageQuestions {
		t.Fatalf("page %d", m.active)
	}
	s := screen(t, m)
	wantIn(t, s, "▸ ? Which holding register was changed?", "2 attempts left", "✓ Which IP address", "answered",
		"no attempts left", "a wrong answer costs 10 points")

	// enter opens the input; everything typed goes to it, global keys too.
	press(t, m, keyEnter)
	if !m.pages[m.active].Capturing() {
		t.Fatal("enter did not open the answer field")
	}
	wantIn(t, screen(t, m), "Your answer (enter to submit, esc to cancel):", "> ")
	if cmd := press(t, m, runes("q"), runes("L"), runes("1"), runes("2"), runes("?"), runes("h"), keyTab, tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}, runes("x")); isQuit(cmd) {
		t.Fatal("q quit while typing")
	}
	if m.active != pageQuestions || m.c.Lang != "en" || m.full {
		t.Fatalf("global keys acted while typing: page %d lang %s help %v", m.active, m.c.Lang, m.full)
	}
	wantIn(t, screen(t, m), "> qL12?h x")
	if f.count() != 0 {
		t.Fatal("sent while typing")
	}

	// enter submits the (trimmed) answer to the selected question.
	cmd := press(t, m, keyEnter)
	if m.pages[m.active].Capturing() {
		t.Fatal("still typing after submitting")
	}
	if got := f.lastSent(t); got.Kind != "answer" || got.Data["question"] != "register" || got.Data["answer"] != "qL12?h x" || len(got.Data) != 2 {
		t.Fatalf("sent %+v", got)
	}
	wantIn(t, screen(t, m), "…")
	// While the answer is on its way, enter does not open the field again.
	if press(t, m, keyEnter); m.pages[m.active].Capturing() {
		t.Fatal("opened the field while an answer is pending")
	}
	deliver(t, m, cmd)
	wantIn(t, screen(t, m), "Wrong answer (−10) · 1 attempt left")

	// esc cancels without sending; an empty answer is not sent.
	press(t, m, keyEnter)
	if !m.pages[m.active].Capturing() {
		t.Fatal("the field did not reopen after the reply")
	}
	wantNotIn(t, screen(t, m), "qL12") // the field starts empty
	press(t, m, keyEnter)
	if !m.pages[m.active].Capturing() || f.count() != 1 {
		t.Fatal("an empty answer closed the field or was sent")
	}
	press(t, m, runes("a"), keyEsc)
	if m.pages[m.active].Capturing() || f.count() != 1 {
		t.Fatal("esc did not cancel")
	}
	wantNotIn(t, screen(t, m), "Your answer")
	// Now that nobody is typing, q quits and digits switch pages.
	if !isQuit(press(t, m, runes("q"))) {
		t.Fatal("q does not quit outside the field")
	}

	// An answered question and one with no attempts left don't open it.
	press(t, m, keyDown, keyEnter)
	if m.pages[m.active].Capturing() {
		t.Fatal("an answered question opened the field")
	}
	wantIn(t, screen(t, m), "▸ ✓ Which IP address", "answered")
	press(t, m, keyDown, keyEnter)
	if m.pages[m.active].Capturing() {
		t.Fatal("a question with no attempts left opened the field")
	}
	wantIn(t, screen(t, m), "▸ ? Which ATT&CK technique?", "no attempts left")
	if f.count() != 1 {
		t.Fatalf("sent %v", f.sent)
	}

	// A correct answer and a server error show too; ctrl+c quits even while typing.
	press(t, m, runes("k"), runes("k"), keyEnter, runes("0"))
	f.reply = common.Reply{Data: []byte(`{"correct":true,"penalty":0,"attempts_left":1,"score":245}`)}
	deliver(t, m, press(t, m, keyEnter))
	wantIn(t, screen(t, m), "Correct!")
	f.reply = common.Reply{Err: errors.New("too many answers from team team-1; wait a few seconds")}
	deliver(t, m, press(t, m, keyEnter, runes("1"), keyEnter))
	wantIn(t, screen(t, m), "too many answers")
	press(t, m, keyEnter)
	if !isQuit(press(t, m, keyCtrlC)) {
		t.Fatal("ctrl+c does not quit while typing")
	}
}

func TestAppActions(t *testing.T) {
	m, f := newApp(t, "en")
	f.reply = common.Reply{Data: []byte(`{"ok":true,"effects":[{"outcome":"ok"}]}`)}
	press(t, m, runes("5"))
	s := screen(t, m)
	wantIn(t, s, "▸ Block the office-IT to control conduit", "ready", "ready in 42s", "Restore the intake setpoint",
		"Reimage and restart the HMI (cost 20)", "Report to the regulator", "used", "Closes the remote-support path.")

	// enter asks first; n cancels without sending.
	press(t, m, keyEnter)
	if !m.pages[m.active].Capturing() {
		t.Fatal("no confirmation")
	}
	wantIn(t, screen(t, m), "Take this action? Block the office-IT to control conduit", "y = yes, n = no")
	if isQuit(press(t, m, runes("q"))) || m.active != pageActions {
		t.Fatal("global keys acted in the dialog")
	}
	press(t, m, runes("n"))
	if m.pages[m.active].Capturing() || f.count() != 0 {
		t.Fatal("n did not cancel")
	}
	wantNotIn(t, screen(t, m), "Take this action?")
	// esc cancels too.
	press(t, m, keyEnter, keyEsc)
	if m.pages[m.active].Capturing() || f.count() != 0 {
		t.Fatal("esc did not cancel")
	}

	// y sends it.
	cmd := press(t, m, keyEnter, runes("y"))
	if got := f.lastSent(t); got.Kind != "action" || got.Data["action"] != "isolate" || len(got.Data) != 1 {
		t.Fatalf("sent %+v", got)
	}
	deliver(t, m, cmd)
	wantIn(t, screen(t, m), "Action taken")

	// An action on cooldown or already used can't be taken.
	press(t, m, keyDown, keyEnter)
	if m.pages[m.active].Capturing() {
		t.Fatal("an action on cooldown asked for confirmation")
	}
	press(t, m, keyDown, keyDown, keyEnter)
	if m.pages[m.active].Capturing() {
		t.Fatal("a used one-shot action asked for confirmation")
	}
	if f.count() != 1 {
		t.Fatalf("sent %v", f.sent)
	}

	// One with a cost says so in the dialog; a failed effect shows.
	f.reply = common.Reply{Data: []byte(`{"ok":true,"effects":[{"outcome":"blocked"}]}`)}
	press(t, m, runes("k"), keyEnter)
	wantIn(t, screen(t, m), "Take this action? Reimage and restart the HMI (cost 20)")
	deliver(t, m, press(t, m, runes("y")))
	if got := f.lastSent(t); got.Data["action"] != "restart-hmi" {
		t.Fatalf("sent %+v", got)
	}
	wantIn(t, screen(t, m), "Action taken: blocked")
	f.reply = common.Reply{Err: errors.New(`action "restart-hmi" is available again in 5m0s`)}
	deliver(t, m, press(t, m, keyEnter, runes("y")))
	wantIn(t, screen(t, m), "available again in 5m0s")
}

func TestAppHints(t *testing.T) {
	m, f := newApp(t, "en")
	press(t, m, runes("6"))
	s := screen(t, m)
	// Listed by title, never by id.
	wantIn(t, s, "Which registers to compare  released", "Read the holding registers and compare them with the map.",
		"Who sent the writes  cost 15")
	wantNotIn(t, s, "h-register", "h-source")
	// A released hint is not bought again.
	press(t, m, keyEnter)
	if m.pages[m.active].Capturing() {
		t.Fatal("a released hint asked for confirmation")
	}
	press(t, m, keyDown, keyEnter)
	if !m.pages[m.active].Capturing() {
		t.Fatal("no confirmation")
	}
	wantIn(t, screen(t, m), "Buy the hint “Who sent the writes” for 15 points?", "y = yes, n = no")
	press(t, m, runes("n"))
	if m.pages[m.active].Capturing() || f.count() != 0 {
		t.Fatal("n did not cancel")
	}
	f.reply = common.Reply{Data: []byte(`{"ok":true,"text":{"en":"Writes are function codes 5, 6, 15 and 16.","ja":"書き込み"}}`)}
	cmd := press(t, m, keyEnter, runes("y"))
	if got := f.lastSent(t); got.Kind != "hint" || got.Data["hint"] != "h-source" || len(got.Data) != 1 {
		t.Fatalf("sent %+v", got)
	}
	deliver(t, m, cmd)
	// The server pushes the view with the hint released.
	v := fixtureView()
	v.Score -= 15
	v.Hints[1].Released, v.Hints[1].Text = true, ptr(txt("Writes are function codes 5, 6, 15 and 16. Who sent them?", "書き込みは…"))
	update(t, m, ViewMsg{View: v})
	s = screen(t, m)
	wantIn(t, s, "Who sent the writes  released", "Writes are function codes 5, 6, 15 and 16. Who sent them?", "Score 130")
	wantNotIn(t, s, "cost 15")
	// An error from the server shows.
	v.Hints = append(v.Hints, engine.HintView{ID: "h-extra", Cost: 5, Requestable: true})
	update(t, m, ViewMsg{View: v})
	f.reply = common.Reply{Err: errors.New("the exercise is paused")}
	deliver(t, m, press(t, m, keyDown, keyEnter, runes("y")))
	wantIn(t, screen(t, m), "the exercise is paused")
}

func TestAppConnection(t *testing.T) {
	m, f := newApp(t, "en")
	wantIn(t, screen(t, m), "● connected")
	isNext(t, f, update(t, m, ConnMsg{State: "reconnecting", Retry: 1530 * time.Millisecond, Err: errors.New("read: EOF")}))
	s := screen(t, m)
	wantIn(t, s, "reconnecting 1.5s", "Score 145") // the last data stays
	wantNotIn(t, s, "● connected")
	isNext(t, f, update(t, m, ConnMsg{State: "connecting"}))
	wantIn(t, screen(t, m), "connecting…")
	isNext(t, f, update(t, m, ConnMsg{State: "connected"}))
	wantIn(t, screen(t, m), "● connected")
	// Rejected: the error shows and the model stops asking for messages.
	if cmd := update(t, m, ConnMsg{State: "rejected", Err: errors.New("the server rejected the token")}); cmd != nil {
		t.Fatal("the model keeps listening after a rejection")
	}
	s = screen(t, m)
	wantIn(t, s, "token rejected", "the server rejected the token")
	// In Japanese as well.
	press(t, m, runes("L"))
	wantIn(t, screen(t, m), "トークンが無効です")

	// Before any data the header is short and still shows the state.
	m2 := NewModel("ja", f.send, f.next)
	update(t, m2, ConnMsg{State: "reconnecting", Retry: 2 * time.Second})
	wantIn(t, screen(t, m2), "icsrange", "再接続中 2s")
}

func TestAppFeed(t *testing.T) {
	m, f := newApp(t, "en")
	if len(m.c.Data.Events) != 3 || m.c.Data.LastSeq != 9 {
		t.Fatalf("after the snapshot: %d events, last seq %d", len(m.c.Data.Events), m.c.Data.LastSeq)
	}
	isNext(t, f, update(t, m, EventMsg{Event: engine.EventView{Seq: 12, ClockMS: 540_000, Team: "team-1", Kind: "answer.submitted",
		Level: "bad", Points: -10, Text: txt("Question register: wrong answer (attempt 1)", "設問 register：不正解（1回目）")}}))
	if n := len(m.c.Data.Events); n != 4 || m.c.Data.Events[3].Seq != 12 || m.c.Data.LastSeq != 12 {
		t.Fatalf("after an event: %d events, last seq %d", n, m.c.Data.LastSeq)
	}
	press(t, m, runes("2"))
	wantIn(t, screen(t, m), "9:00  Question register: wrong answer (attempt 1) (-10)")

	// A resumed snapshot appends what was missed; a fresh one replaces the feed.
	snap := SnapshotMsg{View: fixtureView(), Resumed: true, Seq: 14, Events: []engine.EventView{
		{Seq: 14, ClockMS: 600_000, Kind: "message.broadcast", Level: "alert", Text: txt("Instructor: break in 5 minutes", "講師：5分後に休憩")}}}
	isNext(t, f, update(t, m, snap))
	if n := len(m.c.Data.Events); n != 5 || m.c.Data.LastSeq != 14 || m.c.Data.Trends["intake.level"] == nil {
		t.Fatalf("after a resumed snapshot: %d events, last seq %d, trends %v", n, m.c.Data.LastSeq, m.c.Data.Trends)
	}
	wantIn(t, screen(t, m), "10:00  Instructor: break in 5 minutes", "9:00  Question register")
	snap.Resumed = false
	update(t, m, snap)
	if n := len(m.c.Data.Events); n != 1 {
		t.Fatalf("after a fresh snapshot: %d events", n)
	}

	// Many events: the feed follows the newest; scrolling up stops following.
	for i := range 40 {
		update(t, m, EventMsg{Event: engine.EventView{Seq: int64(100 + i), ClockMS: int64(700_000 + 1000*i), Kind: "message.broadcast",
			Level: "info", Text: txt("line "+string(rune('A'+i%26))+strings.Repeat("x", i%3), "")}})
	}
	s := screen(t, m)
	wantIn(t, s, "12:19  line N") // the newest (i = 39)
	wantNotIn(t, s, "11:40  line A")
	press(t, m, tea.KeyMsg{Type: tea.KeyPgUp}, tea.KeyMsg{Type: tea.KeyPgUp})
	s = screen(t, m)
	wantNotIn(t, s, "12:19  line N")
	update(t, m, EventMsg{Event: engine.EventView{Seq: 200, ClockMS: 800_000, Kind: "message.broadcast", Text: txt("NEWEST", "")}})
	if strings.Contains(screen(t, m), "NEWEST") {
		t.Error("the feed jumped to the newest event while scrolled back")
	}
	press(t, m, runes("G")) // unbound: nothing happens
	for range 10 {
		press(t, m, tea.KeyMsg{Type: tea.KeyPgDown})
	}
	wantIn(t, screen(t, m), "NEWEST")
	update(t, m, EventMsg{Event: engine.EventView{Seq: 201, ClockMS: 801_000, Kind: "message.broadcast", Text: txt("NEWER STILL", "")}})
	wantIn(t, screen(t, m), "NEWER STILL")
}

func TestAppViewUpdates(t *testing.T) {
	m, f := newApp(t, "en")
	before := len(m.c.Data.Trends["intake.level"])
	v := fixtureView()
	v.Score, v.Rank = 245, 2
	v.Exercise.ClockMS = 400_000
	v.Plant[0].Tags[0].Value = 3.75
	isNext(t, f, update(t, m, ViewMsg{View: v}))
	s := screen(t, m)
	wantIn(t, s, "Score 245", "Rank 2/2", "38:20 left", "3.75")
	if got := m.c.Data.Trends["intake.level"]; len(got) != before+1 || got[len(got)-1] != 3.75 {
		t.Fatalf("trend %v", got)
	}
	if got := m.c.Data.Trends["clearwell.level"]; len(got) != 1 {
		t.Fatalf("a new trend starts with one sample: %v", got)
	}
	if _, ok := m.c.Data.Trends["intake.level_sp"]; ok {
		t.Fatal("a setpoint got a trend")
	}
	// Trends are bounded.
	for range common.MaxTrend + 10 {
		update(t, m, ViewMsg{View: v})
	}
	if n := len(m.c.Data.Trends["intake.level"]); n != common.MaxTrend {
		t.Fatalf("trend of %d samples", n)
	}
	// Paused shows; an HMI that went offline says where the PLC answers.
	v.Exercise.Phase = engine.PhasePaused
	v.Plant[1].Online, v.Plant[1].Tags = false, nil
	update(t, m, ViewMsg{View: v})
	wantIn(t, screen(t, m), "PAUSED", "HMI offline — the PLC still answers Modbus at 127.0.0.1:40002")
	v.Exercise.Phase, v.Exercise.ClockMS = engine.PhaseEnded, v.Exercise.DurationMS
	update(t, m, ViewMsg{View: v})
	wantIn(t, screen(t, m), "ended")
	if s := screen(t, m); strings.Contains(s, "left") {
		t.Fatalf("an ended exercise still counts down:\n%s", s)
	}
}

func TestAppWideShowsSideFeed(t *testing.T) {
	m, _ := newApp(t, "en")
	update(t, m, tea.WindowSizeMsg{Width: 130, Height: 40})
	s := screen(t, m)
	wantIn(t, s, "Network monitoring", "Objective achieved", "intake", "clearwell")
	// The separator is one column, the same on every row of the body.
	lines := strings.Split(s, "\n")
	body := lines[2 : 2+36]
	col := -1
	for i, l := range body {
		c := strings.Index(l, " │ ")
		if strings.HasPrefix(l, "│") || strings.HasPrefix(l, "╭") || strings.HasPrefix(l, "╰") {
			c = strings.LastIndex(l, " │ ") // past the box's own border
		}
		if c < 0 {
			t.Fatalf("body line %d has no separator: %q", i, l)
		}
		c = lipgloss.Width(l[:c])
		if col >= 0 && c != col {
			t.Fatalf("separator at column %d on body line %d, %d above:\n%s", c, i, col, s)
		}
		col = c
	}
	if col != 130*62/100 {
		t.Errorf("separator at column %d", col)
	}
	// Not on the feed page itself, nor on a narrow terminal.
	press(t, m, runes("2"))
	wantNotIn(t, screen(t, m), " │ ")
	press(t, m, runes("1"))
	update(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	s = screen(t, m)
	wantNotIn(t, s, "Network monitoring")
	// Very wide: the PLCs sit side by side left of the feed.
	update(t, m, tea.WindowSizeMsg{Width: 200, Height: 40})
	s = screen(t, m)
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "intake") && strings.Contains(l, "clearwell") && strings.Contains(l, "Network monitoring") {
			return
		}
	}
	t.Errorf("PLCs not in two columns beside the feed:\n%s", s)
}

func TestAppHelpAndQuit(t *testing.T) {
	m, _ := newApp(t, "en")
	short := screen(t, m)
	wantIn(t, short, "? help", "q quit")
	wantNotIn(t, short, "previous page", "page down")
	press(t, m, runes("?"))
	full := screen(t, m)
	wantIn(t, full, "next page", "previous page", "go to page", "page down", "cancel", "English/日本語")
	press(t, m, runes("?"))
	wantNotIn(t, screen(t, m), "previous page")
	if !isQuit(press(t, m, runes("q"))) {
		t.Fatal("q does not quit")
	}
	if !isQuit(press(t, m, keyCtrlC)) {
		t.Fatal("ctrl+c does not quit")
	}
	// An error message goes to the status line.
	update(t, m, common.ErrorMsg{Err: errors.New("something broke")})
	wantIn(t, screen(t, m), "something broke")
}

// Small and odd terminal sizes never draw past the edge.
func TestAppSizes(t *testing.T) {
	m, _ := newApp(t, "en")
	for _, sz := range [][2]int{{80, 24}, {60, 20}, {40, 10}, {120, 30}, {200, 50}} {
		update(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		for _, lang := range []string{"en", "ja"} {
			m.c.Lang = lang
			for p := range pageKeys {
				m.active = p
				screen(t, m)
			}
			for _, st := range []ConnMsg{{State: "reconnecting", Retry: 12345 * time.Millisecond}, {State: "connected"}} {
				update(t, m, st)
				m.active = pagePlant
				screen(t, m)
			}
		}
	}
}

// New questions and hints may appear while the team is typing or
// confirming (a visible: rule came true, the instructor released a hint);
// the answer and the purchase still go to what the screen shows.
func TestAppListChangesUnderTheCursor(t *testing.T) {
	m, f := newApp(t, "en")
	press(t, m, runes("4"), keyEnter, runes("1"), runes("7"))
	v := fixtureView()
	v.Questions = append([]engine.QuestionView{{ID: "new", Prompt: txt("A question that just became visible", "新しい設問"), Attempts: 1, AttemptsLeft: 1}}, v.Questions...)
	update(t, m, ViewMsg{View: v})
	s := screen(t, m)
	wantIn(t, s, "▸ ? Which holding register was changed?", "> 17")
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "A question that just became visible") {
			t.Errorf("the prompt shown while typing is not the question being answered:\n%s", s)
		}
	}
	cmd := press(t, m, keyEnter)
	if got := f.lastSent(t); got.Data["question"] != "register" || got.Data["answer"] != "17" {
		t.Fatalf("sent %+v", got)
	}
	deliver(t, m, cmd)

	press(t, m, runes("6"), keyDown, keyEnter)
	wantIn(t, screen(t, m), "Buy the hint “Who sent the writes” for 15 points?")
	v.Hints = append([]engine.HintView{{ID: "h-gift", Title: txt("A gift", "贈り物"), Cost: 0, Released: true, Text: ptr(txt("A gift from the instructor", "講師からのヒント"))}}, v.Hints...)
	update(t, m, ViewMsg{View: v})
	s = screen(t, m)
	wantIn(t, s, "Buy the hint “Who sent the writes” for 15 points?", "▸ Who sent the writes")
	press(t, m, runes("y"))
	if got := f.lastSent(t); got.Kind != "hint" || got.Data["hint"] != "h-source" {
		t.Fatalf("sent %+v", got)
	}
}

// endedView is the fixture once the exercise is over, the team second of
// seven.
func endedView() engine.TeamView {
	v := fixtureView()
	v.Exercise.Phase, v.Exercise.ClockMS = engine.PhaseEnded, 1_800_000 // stopped early: 15 minutes were left
	v.Rank = 2
	for i, n := range []string{"blue", "team-1", "green", "red", "amber", "cyan", "white"} {
		v.Ranking = append(v.Ranking, engine.Placing{Team: n, Score: 300 - 10*i, Rank: i + 1})
	}
	return v
}

// When the exercise ends the header says so and no longer counts down,
// and the final ranking heads every page; in Japanese too.
func TestEndedShowsFinalRanking(t *testing.T) {
	m, f := newApp(t, "en")
	screen := m.View()
	if !strings.Contains(screen, "left") || strings.Contains(screen, "final ranking") {
		t.Fatalf("while running:\n%s", screen)
	}
	isNext(t, f, update(t, m, ViewMsg{View: endedView()}))
	for _, page := range []string{"1", "4", "7"} {
		press(t, m, runes(page))
		screen = m.View()
		header := strings.SplitN(screen, "\n", 2)[0]
		if !strings.Contains(header, "ended") || strings.Contains(header, "left") || strings.Contains(header, "15:00") {
			t.Errorf("page %s: header %q, want ended and no time left", page, header)
		}
		for _, want := range []string{"Exercise ended — final ranking", " 1. blue", " 2. team-1", "◀ your team", " 5. amber"} {
			if !strings.Contains(screen, want) {
				t.Errorf("page %s lacks %q:\n%s", page, want, screen)
			}
		}
		if strings.Contains(screen, "cyan") {
			t.Errorf("page %s shows more than the first five places:\n%s", page, screen)
		}
		if n := len(strings.Split(screen, "\n")); n > 24 {
			t.Errorf("page %s: %d lines on a 24-line terminal", page, n)
		}
	}
	// The team's own place is shown when it is not among the first five.
	v := endedView()
	v.Team, v.Rank = "white", 7
	update(t, m, ViewMsg{View: v})
	if screen := m.View(); !strings.Contains(screen, " 7. white") || !strings.Contains(screen, "…") {
		t.Errorf("a team in seventh place does not see its place:\n%s", screen)
	}
	press(t, m, runes("L"))
	screen = m.View()
	for _, want := range []string{"終了", "演習終了 — 最終順位", "自チーム"} {
		if !strings.Contains(screen, want) {
			t.Errorf("in Japanese the screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(strings.SplitN(screen, "\n", 2)[0], "残り") {
		t.Errorf("in Japanese the header still counts down:\n%s", screen)
	}
}

// Switching the language redraws every line, the results of answers and
// actions too, and counts read naturally in both languages.
func TestAppLanguageRedrawsResults(t *testing.T) {
	m, f := newApp(t, "ja")
	press(t, m, runes("4"))
	wantIn(t, screen(t, m), "残り2回")

	// A wrong answer in Japanese, read again in English and back.
	f.reply = common.Reply{Data: []byte(`{"correct":false,"penalty":10,"attempts_left":1}`)}
	deliver(t, m, press(t, m, keyEnter, runes("x"), keyEnter))
	wantIn(t, screen(t, m), "不正解（−10）・残り1回")
	press(t, m, runes("L"))
	s := screen(t, m)
	wantIn(t, s, "Wrong answer (−10) · 1 attempt left", "2 attempts left")
	wantNotIn(t, s, "不正解", "残り")
	press(t, m, runes("L"))
	wantIn(t, screen(t, m), "不正解（−10）・残り1回")

	// The last attempt used up.
	f.reply = common.Reply{Data: []byte(`{"correct":false,"penalty":10,"attempts_left":0}`)}
	deliver(t, m, press(t, m, keyEnter, runes("y"), keyEnter))
	wantIn(t, screen(t, m), "不正解（−10）・回答回数がありません")

	// The complaint: after switching back to English the answer line still
	// said 正解！
	f.reply = common.Reply{Data: []byte(`{"correct":true,"penalty":0,"attempts_left":1,"score":245}`)}
	deliver(t, m, press(t, m, keyEnter, runes("4"), runes("0"), keyEnter))
	wantIn(t, screen(t, m), "正解！")
	press(t, m, runes("L"))
	s = screen(t, m)
	wantIn(t, s, "Correct!")
	wantNotIn(t, s, "正解")

	// An action's outcome, both ways.
	f.reply = common.Reply{Data: []byte(`{"ok":true,"effects":[{"outcome":"blocked"}]}`)}
	deliver(t, m, press(t, m, runes("5"), keyEnter, runes("y")))
	wantIn(t, screen(t, m), "Action taken: blocked")
	press(t, m, runes("L"))
	s = screen(t, m)
	wantIn(t, s, "対応を実行しました：遮断")
	wantNotIn(t, s, "Action taken", "blocked")
	// The header's time left reads as each language puts it.
	wantIn(t, s, "残り 39:47")
	press(t, m, runes("L"))
	wantIn(t, screen(t, m), "39:47 left")
}

// One of something is singular in English.
func TestCounts(t *testing.T) {
	for _, tc := range []struct {
		lang, key string
		n         int
		more      []any
		want      string
	}{
		{"en", "attempts left", 1, nil, "1 attempt left"},
		{"en", "attempts left", 2, nil, "2 attempts left"},
		{"en", "attempts left", 0, nil, "0 attempts left"},
		{"ja", "attempts left", 2, nil, "残り2回"},
		{"en", "points", 1, nil, "1 point"},
		{"ja", "points", 10, nil, "10点"},
		{"en", "rows", 1, []any{1}, "1/1 row"},
		{"en", "rows", 8, []any{3}, "3/8 rows"},
		{"ja", "rows", 8, []any{3}, "3/8行"},
	} {
		if got := common.Count(tc.lang, tc.key, tc.n, tc.more...); got != tc.want {
			t.Errorf("Count(%s, %q, %d) = %q, want %q", tc.lang, tc.key, tc.n, got, tc.want)
		}
	}
}
