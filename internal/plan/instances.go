package plan

// addInstances lets needs and dependencies name one instance of a parallel job by its full
// name ("build: [x86_64, linux]", "test 2/3"): each instance becomes a target of its own
// (a job named so in the configuration keeps the name). GitLab expands a need or dependency that names a
// parallel job into all its instances and leaves any other name as written
// (Gitlab::Ci::Config::Normalizer#expand_names and #expand_needs), to be found among the
// pipeline's jobs, instances included, by name.
func addInstances(byBase map[string][]*Job, jobs []*Job) {
	for _, j := range jobs {
		if j.Base == "" {
			continue
		}
		if _, taken := byBase[j.Name]; !taken {
			byBase[j.Name] = []*Job{j}
		}
	}
}
