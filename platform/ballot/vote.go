package ballot

import "time"

// Position is a vote's place in the order votes were cast: the queue assigns it (milliseconds,
// then a sequence number within the millisecond), and of two votes by one voter the one with the
// larger position was cast later.
type Position struct {
	Ms  int64
	Seq int64
}

// Less reports whether p comes before other.
func (p Position) Less(other Position) bool {
	return p.Ms < other.Ms || (p.Ms == other.Ms && p.Seq < other.Seq)
}

// Vote is one vote as the worker applies it.
type Vote struct {
	Position Position // later wins
	Voter    string
	Option   string
	CastAt   time.Time
}

// Latest keeps, for each voter, only the vote with the largest position. A batch holds votes in
// any order (reclaimed entries arrive late), so place in the batch means nothing.
func Latest(votes []Vote) []Vote {
	idx := make(map[string]int, len(votes))
	out := make([]Vote, 0, len(votes))
	for _, v := range votes {
		if i, seen := idx[v.Voter]; seen {
			if out[i].Position.Less(v.Position) {
				out[i] = v
			}
			continue
		}
		idx[v.Voter] = len(out)
		out = append(out, v)
	}
	return out
}
