package main

import (
	"fmt"
	"reflect"
	"strings"
)

// configKeys lists every key a config file may hold, dotted ("control_plane.timeout"), from
// Config's yaml tags: the one list the "did you mean" suggestions are drawn from.
func configKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			out = append(out, prefix+name)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// unknownKeyMessage says what is wrong with an unknown key and, where it can, what was meant:
// the API key is never read from the file (it says where it goes instead); a typo gets the
// closest known key.
func unknownKeyMessage(key string) string {
	leaf := key[strings.LastIndex(key, ".")+1:]
	if leaf == "api_key" || leaf == "apikey" || leaf == "api-key" {
		return "unknown key: the API key is not read from the config file; set the " + EnvAPIKey +
			" environment variable, or control_plane.api_key_file to a file holding it"
	}
	if s := closestKey(key); s != "" {
		return fmt.Sprintf("unknown key; did you mean %s? (see config.example.yaml)", s)
	}
	return "unknown key (see config.example.yaml for the keys there are)"
}

// closestKey is the known key nearest to key by edit distance, or "" when none is near enough
// to be a plausible typo: within a third of the key's length, at most 3 edits. A known leaf
// name under another section ("timeout" at the top level) is suggested with its section.
func closestKey(key string) string {
	best, bestD := "", 1<<30
	leaf := key[strings.LastIndex(key, ".")+1:]
	for _, k := range configKeys() {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= min(3, max(1, len(key)/3)) {
		return best
	}
	for _, k := range configKeys() {
		if strings.HasSuffix(k, "."+leaf) {
			return k
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b (bytes: keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
