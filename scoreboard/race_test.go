//go:build race

package scoreboard

// raceDetector is true in a -race build, where the transpiled SQLite and
// every memory access run many times slower: timings mean nothing there.
const raceDetector = true
