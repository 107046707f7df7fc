package privacy

import (
	"reflect"
	"testing"

	"github.com/debugai/debugai/evidence"
)

func TestCountsEntries(t *testing.T) {
	a := NewCounts()
	a.Add(SourceSpan, "user.id", ActionTokenize, 2)
	a.Add(SourceResource, "service.name", ActionKeep, 1)
	a.Add(SourceSpan, "db.statement", ActionNormalize, 1)
	a.Add(SourceSpan, "db.statement", ActionKeep, 3)
	a.Add(SourceSpan, "ignored", ActionDrop, 0)
	b := NewCounts()
	b.Add(SourceSpan, "user.id", ActionTokenize, 5)
	b.Add(SourceKernel, "debugai.stream", ActionKeep, 1)
	a.Merge(b)
	a.Merge(nil)
	var nilCounts *Counts
	nilCounts.Add(SourceSpan, "x", ActionKeep, 1) // must not panic
	want := []evidence.AuditCount{
		{Source: "kernel", Key: "debugai.stream", Action: "keep", Count: 1},
		{Source: "resource", Key: "service.name", Action: "keep", Count: 1},
		{Source: "span", Key: "db.statement", Action: "keep", Count: 3},
		{Source: "span", Key: "db.statement", Action: "normalize", Count: 1},
		{Source: "span", Key: "user.id", Action: "tokenize", Count: 7},
	}
	if got := a.Entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("Entries =\n%v\nwant\n%v", got, want)
	}
	if nilCounts.Entries() != nil || NewCounts().Entries() != nil {
		t.Error("empty Counts has entries")
	}
	var zero Counts
	zero.Add(SourceLog, "k", ActionDrop, 1)
	if zero.Get(SourceLog, "k", ActionDrop) != 1 {
		t.Error("zero Counts did not count")
	}
}

func TestCountsOtherSourcesAndActions(t *testing.T) {
	c := NewCounts()
	c.Add("custom", "k", ActionKeep, 2)
	c.Add(SourceSpan, "k", "custom_action", 3)
	c.Add(SourceSpan, "k", ActionKeep, 1)
	want := []evidence.AuditCount{
		{Source: "custom", Key: "k", Action: "keep", Count: 2},
		{Source: "span", Key: "k", Action: "custom_action", Count: 3},
		{Source: "span", Key: "k", Action: "keep", Count: 1},
	}
	if got := c.Entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("Entries = %v, want %v", got, want)
	}
	if c.Len() != 3 || c.Get("custom", "k", ActionKeep) != 2 || c.Get(SourceSpan, "k", "custom_action") != 3 {
		t.Errorf("Len/Get disagree with Entries")
	}
}
