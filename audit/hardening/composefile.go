package hardening

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// ComposeFile finds where a service's settings are written in the compose file, for Where:
// `docker compose config` gives the merged values but no lines.
type ComposeFile struct {
	Path     string
	services *yaml.Node
	order    []string
}

// ParseComposeFile reads the compose file's YAML (with its anchors, aliases and merge keys).
func ParseComposeFile(path string, src []byte) (*ComposeFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cf := &ComposeFile{Path: path}
	if len(doc.Content) == 0 {
		return cf, nil
	}
	if _, v := mappingValue(doc.Content[0], "services"); v != nil && v.Kind == yaml.MappingNode {
		cf.services = v
		for i := 0; i+1 < len(v.Content); i += 2 {
			cf.order = append(cf.order, v.Content[i].Value)
		}
	}
	return cf, nil
}

// Services lists the services in the order the file writes them.
func (cf *ComposeFile) Services() []string { return cf.order }

// Line is the line where service sets key: in the service itself or in a mapping it merges
// (<<: *anchor), nearest first. A key the service does not set gives the service's line: where
// it would be added. Zero when the service is not in the file.
func (cf *ComposeFile) Line(service, key string) int {
	if cf.services == nil {
		return 0
	}
	k, v := mappingValue(cf.services, service)
	if v == nil {
		return 0
	}
	if key != "" {
		if n := findKey(v, key, 0); n != nil {
			return n.Line
		}
	}
	return k.Line
}

// Where formats Line as file:line.
func (cf *ComposeFile) Where(service, key string) string {
	if l := cf.Line(service, key); l > 0 {
		return fmt.Sprintf("%s:%d", cf.Path, l)
	}
	return cf.Path
}

func mappingValue(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// findKey looks for key in mapping m, then in the mappings m merges, depth first.
func findKey(m *yaml.Node, key string, depth int) *yaml.Node {
	if depth > 10 || m == nil {
		return nil
	}
	if m.Kind == yaml.AliasNode {
		m = m.Alias
	}
	if k, _ := mappingValue(m, key); k != nil {
		return k
	}
	_, merge := mappingValue(m, "<<")
	if merge == nil {
		return nil
	}
	if merge.Kind == yaml.SequenceNode {
		for _, item := range merge.Content {
			if n := findKey(item, key, depth+1); n != nil {
				return n
			}
		}
		return nil
	}
	return findKey(merge, key, depth+1)
}
