package project

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
)

// route is one authenticated API operation. The same table registers the
// handlers and generates the OpenAPI document, so the two cannot disagree.
type route struct {
	method, path, summary string
	handler               http.HandlerFunc
	body                  string // request schema name, "" for none
	operator              bool
	query                 []string
}

func (s *Service) routes() []route {
	paging := []string{"offset", "limit"}
	return []route{
		{http.MethodPost, "/api/accounts", "Create an account and its first API key (operator)", s.createAccount, "AccountRequest", true, nil},
		{http.MethodGet, "/api/account", "Who am I: the caller's account", s.whoami, "", false, nil},
		{http.MethodPost, "/api/accounts/{accountID}/keys", "Issue another API key for an account", s.issueKey, "KeyRequest", false, nil},
		{http.MethodGet, "/api/accounts/{accountID}/keys", "List an account's API keys (never the keys themselves)", s.listKeys, "", false, nil},
		{http.MethodDelete, "/api/accounts/{accountID}/keys/{keyID}", "Revoke an API key at once", s.revokeKey, "", false, nil},
		{http.MethodPost, "/api/accounts/{accountID}/credits", "Add credits to an account (operator); send an Idempotency-Key header to make retries safe", s.purchaseCredits, "CreditsRequest", true, nil},
		{http.MethodGet, "/api/credits", "Credit balance: purchased, consumed, held, available", s.balance, "", false, []string{"account"}},
		{http.MethodGet, "/api/credits/ledger", "Credit ledger entries", s.ledger, "", false, []string{"account"}},
		{http.MethodGet, "/api/setup/m365", "Guided Microsoft 365 setup: application permissions by name, manifest, admin-consent link, optional permissions of full fidelity with what each buys", s.setupM365, "", false, []string{"tenantId", "clientId"}},
		{http.MethodPost, "/api/agents/tokens", "Create a one-time registration token for an outbound connector agent (shown once, short-lived)", s.createAgentToken, "AgentTokenRequest", false, []string{"account"}},
		{http.MethodGet, "/api/agents", "List the account's agents: version, health, last contact, connected", s.listAgents, "", false, []string{"account"}},
		{http.MethodGet, "/api/agents/{agentID}", "Get an agent: version, health, last error, last contact, connected", s.getAgent, "", false, []string{"account"}},
		{http.MethodDelete, "/api/agents/{agentID}", "Revoke an agent at once: its credential stops working and its open poll ends", s.revokeAgent, "", false, []string{"account"}},
		{http.MethodPost, "/api/projects", "Create a project", s.createProject, "ProjectRequest", false, []string{"account"}},
		{http.MethodGet, "/api/projects", "List the account's projects", s.listProjects, "", false, []string{"account"}},
		{http.MethodGet, "/api/projects/{projectID}", "Get a project", s.getProject, "", false, nil},
		{http.MethodPut, "/api/projects/{projectID}/credentials/{side}", "Set a side's credentials (secrets are write-only)", s.setCredentials, "CredentialsRequest", false, nil},
		{http.MethodGet, "/api/projects/{projectID}/credentials/{side}", "Get a side's credentials without secrets", s.getCredentials, "", false, nil},
		{http.MethodPost, "/api/projects/{projectID}/credentials/{side}/verify", "Verify a side's credentials: they authenticate and every needed permission is granted (missing ones by name; optional ones missing are listed apart and never fail the check)", s.verifyCredentials, "", false, nil},
		{http.MethodGet, "/api/projects/{projectID}/discovery", "Discovery results: mailboxes, counts, sizes, blockers", s.discoveryResults, "", false, append([]string{"runId", "side", "sort", "order", "filter"}, paging...)},
		{http.MethodGet, "/api/projects/{projectID}/mapping", "The mapping: suggested pairs and exceptions (exceptions first); filter matches source or destination address and display name, action keeps one action", s.getMapping, "", false, append([]string{"exceptionsOnly", "filter", "action"}, paging...)},
		{http.MethodPatch, "/api/projects/{projectID}/mapping", "Edit the mapping: override, exclude, flag for creation", s.editMapping, "MappingEdits", false, nil},
		{http.MethodGet, "/api/projects/{projectID}/mapping.csv", "Export the mapping as CSV", s.exportMapping, "", false, nil},
		{http.MethodPut, "/api/projects/{projectID}/mapping.csv", "Import a whole mapping from CSV (all rows or none)", s.importMapping, "CSV", false, nil},
		{http.MethodPost, "/api/projects/{projectID}/runs", "Start a run: discovery, prestage, full or delta", s.createRun, "RunRequest", false, nil},
		{http.MethodGet, "/api/projects/{projectID}/runs", "List a project's runs", s.listRuns, "", false, nil},
		{http.MethodGet, "/api/runs/{runID}", "Get a run's state", s.getRun, "", false, nil},
		{http.MethodPost, "/api/runs/{runID}/cancel", "Cancel a run; unused credit holds are released", s.cancelRun, "", false, nil},
		{http.MethodGet, "/api/runs/{runID}/progress", "Per-mailbox progress of a run", s.runProgress, "", false, append([]string{"state"}, paging...)},
		{http.MethodGet, "/api/runs/{runID}/mailboxes/{sourceID}", "One mailbox of a run: progress, rate, items per minute, ETA, health and its reason, recent snapshots", s.mailboxProgress, "", false, nil},
		{http.MethodPost, "/api/projects/{projectID}/quote", "Price a full run without starting it: mailboxes, already charged (free), credits needed, available, short", s.quote, "QuoteRequest", false, nil},
		{http.MethodGet, "/api/projects/{projectID}/events", "Live progress as server-sent events (text/event-stream), pushed when it changes: runs, progress, and with runId a page of that run's mailboxes; error when a read model cannot answer", s.projectEvents, "", false, append([]string{"runId", "state"}, paging...)},
		{http.MethodGet, "/api/projects/{projectID}/progress", "A project's runs with their progress totals", s.projectProgress, "", false, nil},
		{http.MethodGet, "/api/projects/{projectID}/log", "The project's chronological log: state changes, errors with code, cause and action, throttling, retries, resumes", s.projectLog, "", false, append([]string{"mailbox"}, logQuery...)},
		{http.MethodGet, "/api/projects/{projectID}/mailboxes/{mailbox}/log", "A mailbox's chronological log (mailbox: source address or id), paged, filtered by level (minimum) and time", s.mailboxLog, "", false, logQuery},
		{http.MethodGet, "/api/projects/{projectID}/reconciliation", "Reconciliation report: per folder source and destination counts, every item not copied with its reason", s.reconciliation, "", false, append([]string{"mailbox", "runId"}, paging...)},
		{http.MethodGet, "/api/projects/{projectID}/reconciliation.csv", "Reconciliation report as CSV: one row per folder, one per item not copied", s.reconciliationCSV, "", false, []string{"mailbox", "runId"}},
		{http.MethodGet, "/api/fleet", "Mailboxes across the account's projects that need attention now (stalled and failing by default)", s.fleet, "", false, []string{"account", "health"}},
		{http.MethodPost, "/api/sql", "Read-only SQL over the analytics tables (operator): SELECT, WITH, SHOW, DESCRIBE, EXPLAIN", s.sql, "SQLRequest", true, nil},
	}
}

var schemas = map[string]any{
	"AccountRequest": obj(map[string]any{"name": str()}, "name"),
	"KeyRequest":     obj(map[string]any{"label": str()}),
	"CreditsRequest": obj(map[string]any{"amount": map[string]any{"type": "integer", "minimum": 1}, "reference": str()}, "amount"),
	"ProjectRequest": obj(map[string]any{
		"name":        str(),
		"source":      map[string]any{"type": "string", "enum": []string{"m365", "google", "exchange", "memory"}},
		"destination": map[string]any{"type": "string", "enum": []string{"m365", "google", "exchange", "memory"}},
	}, "name", "source", "destination"),
	"CredentialsRequest": obj(map[string]any{
		"fields":  map[string]any{"type": "object", "additionalProperties": str(), "description": "memory: endpoint, tenant; m365: tenantId, clientId; google: adminEmail, optional clientId, labelMode, maxConcurrentPerMailbox (endpoint, tokenUrl, caPem with MAILFERRY_ALLOW_SANDBOX only); exchange: ewsUrl, username and optionally auth (ntlm or basic), certFingerprint, mailboxes, sampleMailbox, maxConcurrentPerMailbox (docs/exchange.md); or, through an outbound connector agent, agentId and for display ewsUrl, username, with no secrets (docs/connector-agent.md)"},
		"secrets": map[string]any{"type": "object", "additionalProperties": str(), "description": "write-only. memory: token; m365: clientSecret or certificate; google: serviceAccountKey; exchange: password"},
	}, "fields", "secrets"),
	"MappingEdits": obj(map[string]any{"edits": map[string]any{"type": "array", "items": obj(map[string]any{
		"source": str(), "destination": str(), "action": map[string]any{"type": "string", "enum": []string{"migrate", "exclude", "create"}},
	}, "source", "action")}}, "edits"),
	"RunRequest": obj(map[string]any{
		"mode":         map[string]any{"type": "string", "enum": []string{"discovery", "prestage", "full", "delta"}},
		"calendar":     map[string]any{"type": "boolean", "default": true},
		"contacts":     map[string]any{"type": "boolean", "default": true},
		"mailboxes":    map[string]any{"type": "array", "items": str(), "description": "source addresses; all mapped mailboxes when empty"},
		"allowPartial": map[string]any{"type": "boolean", "default": false, "description": "with mailboxes: run those that can run instead of refusing when some cannot"},
	}, "mode"),
	"Error": obj(map[string]any{"error": obj(map[string]any{
		"code": str(), "cause": str(), "action": str(), "field": str(),
	}, "code", "cause")}, "error"),
}

func str() map[string]any { return map[string]any{"type": "string"} }

func obj(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// OpenAPI returns the OpenAPI 3 document of the API.
func (s *Service) OpenAPI() map[string]any {
	paths := map[string]any{
		"/healthz": map[string]any{"get": map[string]any{"summary": "Liveness", "security": []any{}, "responses": map[string]any{"200": map[string]any{"description": "ok"}}}},
	}
	for _, rt := range append(s.routes(), s.agentRoutes()...) {
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/api/", "", "/", "_", "{", "", "}", "", ".", "_").Replace(rt.path),
			"responses": map[string]any{
				"2XX":     map[string]any{"description": "success", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}},
				"default": map[string]any{"description": "a coded error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
			},
		}
		if rt.operator {
			op["description"] = "Requires the operator key."
		}
		if sec, ok := agentSecurity(rt.path); ok {
			op["security"] = sec
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": str()})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": str()})
		}
		if params != nil {
			op["parameters"] = params
		}
		switch rt.body {
		case "":
		case "CSV":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"text/csv": map[string]any{"schema": str()}}}
		default:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + rt.body}}}}
		}
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "mailferry API",
			"version":     "1.0.0",
			"description": "Migrate mailboxes between Microsoft 365, Google Workspace and Exchange. Every error has a stable code, a cause in plain words and what to do.",
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"apiKey": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "http", "scheme": "bearer", "description": "an account API key (mf_...) or the operator key"},
				"agentCredential": map[string]any{"type": "http", "scheme": "bearer", "description": "an agent's credential (mfa_...), answered once by POST /api/agent/register"}},
			"schemas": schemas,
		},
	}
}

func (s *Service) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.OpenAPI())
}
