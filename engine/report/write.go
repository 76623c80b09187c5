package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Formats a report can be written in.
var Formats = []string{"html", "json", "csv", "csv-scores"}

// ContentType is the MIME type of a format.
func ContentType(format string) string {
	switch format {
	case "html":
		return "text/html; charset=utf-8"
	case "json":
		return "application/json"
	}
	return "text/csv; charset=utf-8"
}

// Write renders the report in a format.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "html":
		return r.WriteHTML(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return r.WriteEventsCSV(w)
	case "csv-scores":
		return r.WriteScoresCSV(w)
	}
	return fmt.Errorf("unknown report format %q (html, json, csv, csv-scores)", format)
}

// WriteEventsCSV writes every team's timeline as CSV, one event a row.
func (r *Report) WriteEventsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"team", "seq", "clock_ms", "clock", "kind", "points", "score", "text_en", "text_ja"})
	for _, t := range r.Teams {
		for _, e := range t.Timeline {
			cw.Write([]string{t.Name, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.ClockMS, 10), clock(e.ClockMS),
				e.Kind, strconv.Itoa(e.Points), strconv.Itoa(e.Score), e.Text.En, e.Text.Ja})
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteScoresCSV writes the ranking with each team's objective results.
func (r *Report) WriteScoresCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"rank", "team", "score", "safety_incidents", "time_to_detect_s", "time_to_contain_s"}
	for _, o := range r.Objectives {
		head = append(head, o.ID)
	}
	cw.Write(head)
	for _, t := range r.Teams {
		row := []string{strconv.Itoa(t.Rank), t.Name, strconv.Itoa(t.Score), strconv.Itoa(t.Incidents), secs(t.TimeToDetectMS), secs(t.TimeToContainMS)}
		for _, o := range t.Objectives {
			row = append(row, fmt.Sprintf("%s %d", o.Status, o.Earned))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

func secs(ms *int64) string {
	if ms == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*ms)/1000, 'f', 1, 64)
}

// clock formats exercise milliseconds as m:ss (h:mm:ss past an hour).
func clock(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
