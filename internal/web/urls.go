package web

import (
	"net/url"
	"strconv"
	"strings"
)

// The URLs of pages and of the forms they post to. Templates link only through these, and the
// server's routes must answer them; path is a project's "namespace/name".

// ProjectURL is the project's pipelines page, /{namespace}/{project}.
func ProjectURL(path string) string { return "/" + path }

// PipelineURL is /{namespace}/{project}/-/pipelines/{id}; its POST actions are the suffixes
// /cancel and /retry (retry the failed jobs). POST /{namespace}/{project}/-/pipelines runs a
// pipeline (form fields ref, var_key and var_value repeated).
func PipelineURL(path string, id int64) string {
	return "/" + path + "/-/pipelines/" + strconv.FormatInt(id, 10)
}

// JobURL is /{namespace}/{project}/-/jobs/{id}; its POST actions are /play, /retry and
// /cancel; /raw is the plain log (?download=1 as an attachment), /artifacts/download the
// archive and /artifacts/file/{path} one file of it.
func JobURL(path string, id int64) string {
	return "/" + path + "/-/jobs/" + strconv.FormatInt(id, 10)
}

// SettingsURL is /{namespace}/{project}/-/settings; its POST actions are listed on Settings.
func SettingsURL(path string) string { return "/" + path + "/-/settings" }

// PipelinesEventsURL is the SSE stream of the pipelines list: the page adds id=… for each
// running row (PipelineRowEvent answers).
func PipelinesEventsURL(path string) string { return "/" + path + "/-/pipelines/events" }

// PipelineEventsURL is the SSE stream of a pipeline page (PipelineEvent answers).
func PipelineEventsURL(path string, id int64) string { return PipelineURL(path, id) + "/events" }

// JobEventsURL is the SSE stream of a job page's summary (JobEvent answers); the log has its
// own stream, package logview's.
func JobEventsURL(path string, id int64) string { return JobURL(path, id) + "/events" }

// artifactFileURL is the download URL of one file of a job's artifacts archive.
func artifactFileURL(path string, id int64, file string) string {
	parts := strings.Split(file, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return JobURL(path, id) + "/artifacts/file/" + strings.Join(parts, "/")
}

// pipelinesQuery is the pipelines page URL with a filter and a page.
func pipelinesQuery(path string, f PipelineFilter, before int64) string {
	q := url.Values{}
	if f.Ref != "" {
		q.Set("ref", f.Ref)
	}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.Source != "" {
		q.Set("source", f.Source)
	}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if len(q) == 0 {
		return ProjectURL(path)
	}
	return ProjectURL(path) + "?" + q.Encode()
}
