package deploycheck

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"

	"github.com/mailferry/mailferry/libs/analytics/chdbenv"
	"github.com/mailferry/mailferry/services/mailferry/internal/app"
)

// Paths of the deploy files, relative to the repository root.
const (
	composeFile     = "docker-compose.yml"
	dockerfile      = "deploy/Dockerfile"
	otelConfig      = "deploy/otel-collector.yaml"
	k8sDir          = "deploy/k8s"
	kustomization   = "kustomization.yaml"
	tiltfile        = "tilt/Tiltfile"
	mailferryBinary = "/mailferry"
	// documentedRequired are the variables compose must refuse to start without.
	documentedRequired = "MAILFERRY_OPERATOR_KEY,MAILFERRY_VAULT_KEY"
)

// ---------------------------------------------------------------------------
// repository root and shared loading

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory")
		}
		dir = parent
	}
})

func root(t *testing.T) string {
	t.Helper()
	dir, err := repoRoot()
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return dir
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(b)
}

func exists(t *testing.T, rel string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(root(t), filepath.FromSlash(rel)))
	return err == nil
}

// requiredVarRe finds ${NAME:?message} and ${NAME?message}.
var requiredVarRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):?\?`)

// requiredVars are the variables docker-compose.yml requires.
func requiredVars(t *testing.T) []string {
	t.Helper()
	set := map[string]bool{}
	for _, m := range requiredVarRe.FindAllStringSubmatch(readFile(t, composeFile), -1) {
		set[m[1]] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// testEnv gives every required variable a well-formed value.
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, name := range requiredVars(t) {
		env[name] = "test-value-" + strings.ToLower(name)
	}
	env["MAILFERRY_VAULT_KEY"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	env["MAILFERRY_OPERATOR_KEY"] = "test-operator-key"
	return env
}

// loadCompose loads docker-compose.yml the way `docker compose` does: schema
// validation, interpolation, normalization and the consistency check all on.
// The environment is passed explicitly (not through os.Setenv) so that the
// parallel tests do not share it.
func loadCompose(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	dir := root(t)
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, composeFile)}},
		Environment: env,
	}
	return loader.LoadWithContext(context.Background(), details)
}

func mustLoadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(t, testEnv(t))
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

// mailferryComposeServices are the compose services built from deploy/Dockerfile
// or running its image or the serve command, by compose service name.
func mailferryComposeServices(t *testing.T, p *types.Project) map[string]types.ServiceConfig {
	t.Helper()
	want := filepath.Join(root(t), filepath.FromSlash(dockerfile))
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		built := s.Build != nil && filepath.Join(s.Build.Context, s.Build.Dockerfile) == want
		serves := len(s.Command) > 0 && s.Command[0] == "serve"
		if built || serves || strings.HasPrefix(s.Image, "mailferry") {
			out[name] = s
		}
	}
	return out
}

func envValue(s types.ServiceConfig, key string) (string, bool) {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

// ---------------------------------------------------------------------------
// docker-compose.yml

func TestComposeLoads(t *testing.T) {
	t.Parallel()
	required := requiredVars(t)
	if got := strings.Join(required, ","); got != documentedRequired {
		t.Fatalf("%s requires %q, want exactly %q (${NAME:?message} style)", composeFile, got, documentedRequired)
	}
	tests := []struct {
		name    string
		unset   string // variable removed from the environment
		wantErr bool
	}{
		{name: "all required variables set"},
	}
	for _, v := range required {
		tests = append(tests, struct {
			name    string
			unset   string
			wantErr bool
		}{name: "without " + v, unset: v, wantErr: true})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := testEnv(t)
			delete(env, tc.unset)
			p, err := loadCompose(t, env)
			switch {
			case tc.wantErr && err == nil:
				t.Fatalf("loaded without %s; it must be required", tc.unset)
			case tc.wantErr && !strings.Contains(err.Error(), tc.unset):
				t.Fatalf("error does not name %s: %v", tc.unset, err)
			case !tc.wantErr && err != nil:
				t.Fatalf("load %s: %v", composeFile, err)
			case !tc.wantErr && len(p.Services) == 0:
				t.Fatalf("%s has no services", composeFile)
			}
		})
	}
}

func TestComposeMailferryServicesServeKnownNames(t *testing.T) {
	t.Parallel()
	p := mustLoadCompose(t)
	known := app.ServiceNames()
	services := mailferryComposeServices(t, p)
	if len(services) == 0 {
		t.Fatalf("no mailferry service in %s", composeFile)
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if len(s.Command) != 2 || s.Command[0] != "serve" {
				t.Fatalf("command = %q, want [serve <name>]", []string(s.Command))
			}
			if !slices.Contains(known, s.Command[1]) {
				t.Fatalf("serves %q, not one of app.ServiceNames() %q", s.Command[1], known)
			}
			if s.Command[1] != name {
				t.Errorf("compose service %q serves %q; name them alike", name, s.Command[1])
			}
			if s.Build == nil {
				t.Fatalf("no build section; want %s", dockerfile)
			}
			if got, want := filepath.Join(s.Build.Context, s.Build.Dockerfile), filepath.Join(root(t), filepath.FromSlash(dockerfile)); got != want {
				t.Errorf("built from %s, want %s", got, want)
			}
			if s.Build.Context != root(t) {
				t.Errorf("build context %s, want the repository root (go.work workspace)", s.Build.Context)
			}
		})
	}
}

func TestComposeDeploysEveryService(t *testing.T) {
	t.Parallel()
	p := mustLoadCompose(t)
	env := testEnv(t)
	services := mailferryComposeServices(t, p)
	nats, ok := p.Services["nats"]
	if !ok {
		t.Fatalf("no nats service in %s", composeFile)
	}
	if nats.HealthCheck == nil || len(nats.HealthCheck.Test) == 0 || nats.HealthCheck.Disable {
		t.Errorf("nats has no healthcheck; services depend on it being healthy")
	}
	for _, name := range app.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var s types.ServiceConfig
			found := 0
			for _, c := range services {
				if slices.Equal(c.Command, types.ShellCommand{"serve", name}) {
					s = c
					found++
				}
			}
			if found != 1 {
				t.Fatalf("%d compose services run `serve %s`, want 1", found, name)
			}
			if dep, ok := s.DependsOn["nats"]; !ok || dep.Condition != types.ServiceConditionHealthy {
				t.Errorf("depends_on nats = %+v, want condition %s", dep, types.ServiceConditionHealthy)
			}
			natsURL, _ := envValue(s, "MAILFERRY_NATS_URL")
			if u, err := url.Parse(natsURL); err != nil || u.Scheme != "nats" || u.Hostname() != "nats" {
				t.Errorf("MAILFERRY_NATS_URL = %q, want nats://nats:4222", natsURL)
			}
			for _, key := range []string{"MAILFERRY_VAULT_KEY", "MAILFERRY_OPERATOR_KEY"} {
				if v, _ := envValue(s, key); v != env[key] {
					t.Errorf("%s = %q, want the value from the environment", key, v)
				}
			}
			endpoint, _ := envValue(s, "OTEL_EXPORTER_OTLP_ENDPOINT")
			u, err := url.Parse(endpoint)
			if err != nil || u.Hostname() == "" {
				t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT = %q, want the collector", endpoint)
			} else if _, ok := p.Services[u.Hostname()]; !ok {
				t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT host %q is not a compose service", u.Hostname())
			}
			if v, _ := envValue(s, "OTEL_SERVICE_NAME"); !strings.Contains(v, name) {
				t.Errorf("OTEL_SERVICE_NAME = %q, want it to name %s", v, name)
			}
			if name != "project" {
				return
			}
			if addr, _ := envValue(s, "MAILFERRY_HTTP_ADDR"); addr != "0.0.0.0:8080" {
				t.Errorf("MAILFERRY_HTTP_ADDR = %q, want 0.0.0.0:8080 in a container", addr)
			}
			published := false
			for _, port := range s.Ports {
				if port.Target == 8080 && port.Published != "" {
					published = true
				}
			}
			if !published {
				t.Errorf("project does not publish port 8080: %+v", s.Ports)
			}
		})
	}
}

func TestComposeInfrastructure(t *testing.T) {
	t.Parallel()
	p := mustLoadCompose(t)
	tests := []struct {
		service     string
		imagePrefix string
		check       func(t *testing.T, s types.ServiceConfig)
	}{
		{"nats", "nats:", func(t *testing.T, s types.ServiceConfig) {
			cmd := strings.Join(s.Command, " ")
			if !strings.Contains(cmd, "--jetstream") && !regexp.MustCompile(`(^|\s)-js(\s|$)`).MatchString(cmd) {
				t.Errorf("command %q does not enable JetStream", cmd)
			}
			if !hasVolume(s, types.VolumeTypeVolume) {
				t.Errorf("no named volume for the JetStream store")
			}
			if !publishes(s, 8222) {
				t.Errorf("monitoring port 8222 not published")
			}
		}},
		{"clickhouse", "clickhouse/clickhouse-server", func(t *testing.T, s types.ServiceConfig) {
			if !hasVolume(s, types.VolumeTypeVolume) {
				t.Errorf("no named volume for the ClickHouse data")
			}
		}},
		{"otel-collector", "otel/opentelemetry-collector-contrib", func(t *testing.T, s types.ServiceConfig) {
			want := filepath.Join(root(t), filepath.FromSlash(otelConfig))
			mounted := false
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeBind && v.Source == want {
					mounted = true
				}
			}
			if !mounted {
				t.Errorf("%s is not bind-mounted", otelConfig)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			t.Parallel()
			s, ok := p.Services[tc.service]
			if !ok {
				t.Fatalf("no %s service in %s", tc.service, composeFile)
			}
			if !strings.HasPrefix(s.Image, tc.imagePrefix) {
				t.Errorf("image %q, want %s...", s.Image, tc.imagePrefix)
			}
			tc.check(t, s)
		})
	}
}

func hasVolume(s types.ServiceConfig, typ string) bool {
	return slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type == typ })
}

func publishes(s types.ServiceConfig, target uint32) bool {
	return slices.ContainsFunc(s.Ports, func(p types.ServicePortConfig) bool { return p.Target == target && p.Published != "" })
}

func TestOtelCollectorConfig(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Receivers map[string]any `json:"receivers"`
		Exporters map[string]any `json:"exporters"`
		Service   struct {
			Pipelines map[string]struct {
				Receivers []string `json:"receivers"`
				Exporters []string `json:"exporters"`
			} `json:"pipelines"`
		} `json:"service"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, otelConfig)), &cfg); err != nil {
		t.Fatalf("parse %s: %v", otelConfig, err)
	}
	if _, ok := cfg.Receivers["otlp"]; !ok {
		t.Errorf("no otlp receiver")
	}
	if _, ok := cfg.Exporters["debug"]; !ok {
		t.Errorf("no debug exporter")
	}
	if len(cfg.Service.Pipelines) == 0 {
		t.Fatalf("no pipelines")
	}
	for name, p := range cfg.Service.Pipelines {
		if !slices.Contains(p.Receivers, "otlp") || !slices.Contains(p.Exporters, "debug") {
			t.Errorf("pipeline %s: receivers %q exporters %q, want otlp in and debug out", name, p.Receivers, p.Exporters)
		}
	}
}

// ---------------------------------------------------------------------------
// deploy/k8s

// k8sDoc is one YAML document of a manifest, as JSON for typed decoding.
type k8sDoc struct {
	file  string // relative to deploy/k8s
	index int    // position in the file
	json  []byte
	meta  struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
}

func (d k8sDoc) String() string {
	return fmt.Sprintf("%s#%d (%s %s)", d.file, d.index, d.meta.Kind, d.meta.Metadata.Name)
}

func (d k8sDoc) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(d.json, v); err != nil {
		t.Fatalf("decode %s: %v", d, err)
	}
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// manifestFiles lists the YAML files under deploy/k8s, relative to it.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	base := filepath.Join(root(t), filepath.FromSlash(k8sDir))
	var files []string
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			rel, err := filepath.Rel(base, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", k8sDir, err)
	}
	sort.Strings(files)
	return files
}

// k8sDocs parses every document of every manifest except the kustomization.
func k8sDocs(t *testing.T) []k8sDoc {
	t.Helper()
	var docs []k8sDoc
	for _, file := range manifestFiles(t) {
		if path.Base(file) == kustomization {
			continue
		}
		for i, part := range docSeparator.Split(readFile(t, k8sDir+"/"+file), -1) {
			j, err := yaml.YAMLToJSON([]byte(part))
			if err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if s := strings.TrimSpace(string(j)); s == "null" || s == "{}" {
				continue // only comments
			}
			d := k8sDoc{file: file, index: i, json: j}
			if err := json.Unmarshal(j, &d.meta); err != nil {
				t.Fatalf("%s document %d: not an object: %v", file, i, err)
			}
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("no manifests under %s", k8sDir)
	}
	return docs
}

func docsOfKind(docs []k8sDoc, kind string) []k8sDoc {
	var out []k8sDoc
	for _, d := range docs {
		if d.meta.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}

func findDoc(docs []k8sDoc, kind, name string) (k8sDoc, bool) {
	for _, d := range docsOfKind(docs, kind) {
		if d.meta.Metadata.Name == name {
			return d, true
		}
	}
	return k8sDoc{}, false
}

type portRef = json.RawMessage // int or named port

type probe struct {
	HTTPGet *struct {
		Path string  `json:"path"`
		Port portRef `json:"port"`
	} `json:"httpGet"`
	TCPSocket *struct {
		Port portRef `json:"port"`
	} `json:"tcpSocket"`
}

type container struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Command []string `json:"command"`
	Args    []string `json:"args"`
	Ports   []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `json:"configMapRef"`
		SecretRef    *struct{ Name string } `json:"secretRef"`
	} `json:"envFrom"`
	Env []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"env"`
	ReadinessProbe *probe `json:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	} `json:"volumeMounts"`
}

// port resolves a probe or Service port (number or name) to a container port.
func (c container) port(ref portRef) (int, bool) {
	if n, err := strconv.Atoi(string(ref)); err == nil {
		return n, true
	}
	var name string
	if json.Unmarshal(ref, &name) != nil {
		return 0, false
	}
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

type workload struct {
	Spec struct {
		Replicas    *int   `json:"replicas"`
		ServiceName string `json:"serviceName"`
		Template    struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Containers []container `json:"containers"`
				Volumes    []struct {
					Name      string                 `json:"name"`
					ConfigMap *struct{ Name string } `json:"configMap"`
				} `json:"volumes"`
			} `json:"spec"`
		} `json:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"volumeClaimTemplates"`
	} `json:"spec"`
}

// replicas is spec.replicas, 1 when unset (the Kubernetes default).
func replicas(w workload) int {
	if w.Spec.Replicas == nil {
		return 1
	}
	return *w.Spec.Replicas
}

type k8sService struct {
	Spec struct {
		ClusterIP string            `json:"clusterIP"`
		Selector  map[string]string `json:"selector"`
		Ports     []struct {
			Port       int     `json:"port"`
			TargetPort portRef `json:"targetPort"`
		} `json:"ports"`
	} `json:"spec"`
}

type configMap struct {
	Data map[string]string `json:"data"`
}

type secret struct {
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
}

// servedName is <name> when the container runs `[/mailferry] serve <name>`.
func servedName(c container) (string, bool) {
	argv := append(slices.Clone(c.Command), c.Args...)
	if len(argv) > 0 && argv[0] == mailferryBinary {
		argv = argv[1:]
	}
	if len(argv) == 2 && argv[0] == "serve" {
		return argv[1], true
	}
	return "", false
}

func TestK8sDocumentsAreObjects(t *testing.T) {
	t.Parallel()
	docs := k8sDocs(t)
	for _, d := range docs {
		t.Run(fmt.Sprintf("%s#%d", d.file, d.index), func(t *testing.T) {
			t.Parallel()
			if d.meta.APIVersion == "" || d.meta.Kind == "" || d.meta.Metadata.Name == "" {
				t.Fatalf("apiVersion %q kind %q metadata.name %q: all three are required",
					d.meta.APIVersion, d.meta.Kind, d.meta.Metadata.Name)
			}
			if d.meta.Kind == "Namespace" {
				return
			}
			if ns := d.meta.Metadata.Namespace; ns != "mailferry" {
				t.Errorf("metadata.namespace = %q, want mailferry", ns)
			}
		})
	}
	if _, ok := findDoc(docs, "Namespace", "mailferry"); !ok {
		t.Errorf("no Namespace mailferry")
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	t.Parallel()
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, k8sDir+"/"+kustomization)), &k); err != nil {
		t.Fatalf("parse %s: %v", kustomization, err)
	}
	if k.Kind != "Kustomization" || !strings.HasPrefix(k.APIVersion, "kustomize.config.k8s.io/") {
		t.Errorf("apiVersion %q kind %q, want a kustomize.config.k8s.io Kustomization", k.APIVersion, k.Kind)
	}
	if k.Namespace != "mailferry" {
		t.Errorf("namespace = %q, want mailferry", k.Namespace)
	}
	listed := map[string]int{}
	for _, r := range k.Resources {
		listed[path.Clean(r)]++
	}
	var present []string
	for _, f := range manifestFiles(t) {
		if path.Base(f) != kustomization {
			present = append(present, f)
		}
	}
	for _, f := range present {
		if listed[f] == 0 {
			t.Errorf("%s/%s is not listed in %s", k8sDir, f, kustomization)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(listed)) {
		if listed[r] > 1 {
			t.Errorf("%s is listed %d times", r, listed[r])
		}
		if !slices.Contains(present, r) {
			t.Errorf("%s lists %s, which is not a manifest file under %s", kustomization, r, k8sDir)
		}
	}
}

// natsConfBlock returns the body of `name { ... }` (also `name: {` / `name = {`).
func natsConfBlock(conf, name string) (string, bool) {
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s*[:=]?\s*\{`)
	loc := re.FindStringIndex(conf)
	if loc == nil {
		return "", false
	}
	depth := 1
	for i := loc[1]; i < len(conf); i++ {
		switch conf[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return conf[loc[1]:i], true
			}
		}
	}
	return "", false
}

var (
	natsRoutesRe   = regexp.MustCompile(`(?s)routes\s*[:=]?\s*\[(.*?)\]`)
	natsRouteURLRe = regexp.MustCompile(`nats(?:-route)?://[^\s,\]"']+`)
	natsStoreDirRe = regexp.MustCompile(`(?m)^\s*store_dir\s*[:=]\s*"?([^\s"]+)"?`)
	natsCommentRe  = regexp.MustCompile(`(?m)(^|\s)(#|//).*$`)
)

func TestNATSJetStreamCluster(t *testing.T) {
	t.Parallel()
	docs := k8sDocs(t)
	var sts []k8sDoc
	for _, d := range docsOfKind(docs, "StatefulSet") {
		var w workload
		d.decode(t, &w)
		if slices.ContainsFunc(w.Spec.Template.Spec.Containers, func(c container) bool {
			return strings.HasPrefix(path.Base(c.Image), "nats:") || path.Base(c.Image) == "nats"
		}) {
			sts = append(sts, d)
		}
	}
	if len(sts) != 1 {
		t.Fatalf("%d StatefulSets run the nats image, want 1", len(sts))
	}
	var w workload
	sts[0].decode(t, &w)
	name := sts[0].meta.Metadata.Name

	if got := replicas(w); got != 3 {
		t.Errorf("replicas = %d, want 3", got)
	}
	headless, ok := findDoc(docs, "Service", w.Spec.ServiceName)
	if !ok {
		t.Fatalf("serviceName %q: no such Service", w.Spec.ServiceName)
	}
	var hs k8sService
	headless.decode(t, &hs)
	if hs.Spec.ClusterIP != "None" {
		t.Errorf("Service %s clusterIP = %q, want None (headless)", w.Spec.ServiceName, hs.Spec.ClusterIP)
	}
	if len(w.Spec.VolumeClaimTemplates) == 0 {
		t.Fatalf("no volumeClaimTemplates for the JetStream store")
	}

	// The config: the ConfigMap mounted into the nats container.
	c := w.Spec.Template.Spec.Containers[0]
	var conf, confPath string
	for _, v := range w.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cmDoc, ok := findDoc(docs, "ConfigMap", v.ConfigMap.Name)
		if !ok {
			t.Fatalf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
		}
		var cm configMap
		cmDoc.decode(t, &cm)
		for key, body := range cm.Data {
			if strings.HasSuffix(key, ".conf") {
				conf = body
				for _, m := range c.VolumeMounts {
					if m.Name == v.Name {
						confPath = path.Join(m.MountPath, key)
					}
				}
			}
		}
	}
	if conf == "" {
		t.Fatalf("no nats .conf in a ConfigMap mounted by StatefulSet %s", name)
	}
	argv := strings.Join(append(slices.Clone(c.Command), c.Args...), " ")
	if confPath == "" || !strings.Contains(argv, confPath) {
		t.Errorf("nats is not started with the mounted config %q: %q", confPath, argv)
	}
	conf = natsCommentRe.ReplaceAllString(conf, "$1")

	t.Run("jetstream", func(t *testing.T) {
		t.Parallel()
		js, ok := natsConfBlock(conf, "jetstream")
		if !ok {
			t.Fatalf("no jetstream { } block")
		}
		m := natsStoreDirRe.FindStringSubmatch(js)
		if m == nil {
			t.Fatalf("jetstream block has no store_dir")
		}
		onPVC := false
		for _, vct := range w.Spec.VolumeClaimTemplates {
			for _, vm := range c.VolumeMounts {
				if vm.Name == vct.Metadata.Name && (m[1] == vm.MountPath || strings.HasPrefix(m[1], strings.TrimSuffix(vm.MountPath, "/")+"/")) {
					onPVC = true
				}
			}
		}
		if !onPVC {
			t.Errorf("store_dir %s is not on a volumeClaimTemplate mount", m[1])
		}
	})

	t.Run("cluster routes", func(t *testing.T) {
		t.Parallel()
		cl, ok := natsConfBlock(conf, "cluster")
		if !ok {
			t.Fatalf("no cluster { } block")
		}
		m := natsRoutesRe.FindStringSubmatch(cl)
		if m == nil {
			t.Fatalf("cluster block has no routes = [...]")
		}
		var hosts []string
		for _, r := range natsRouteURLRe.FindAllString(m[1], -1) {
			u, err := url.Parse(r)
			if err != nil {
				t.Fatalf("route %q: %v", r, err)
			}
			hosts = append(hosts, u.Hostname())
		}
		want := make([]string, 3)
		for i := range want {
			want[i] = fmt.Sprintf("%s-%d.%s", name, i, w.Spec.ServiceName)
		}
		var got []string
		for _, h := range hosts {
			labels := strings.SplitN(h, ".", 3)
			if len(labels) < 2 {
				t.Errorf("route host %q does not name a pod of the headless Service", h)
				continue
			}
			got = append(got, labels[0]+"."+labels[1])
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("routes name %q, want the three pods %q", got, want)
		}
	})
}

func TestK8sDeploysEveryService(t *testing.T) {
	t.Parallel()
	docs := k8sDocs(t)
	known := app.ServiceNames()

	// Every container running `serve <x>` serves a known service.
	served := map[string][]k8sDoc{}
	for _, d := range docsOfKind(docs, "Deployment") {
		var w workload
		d.decode(t, &w)
		for _, c := range w.Spec.Template.Spec.Containers {
			if n, ok := servedName(c); ok {
				if !slices.Contains(known, n) {
					t.Errorf("%s serves %q, not one of app.ServiceNames() %q", d, n, known)
				}
				served[n] = append(served[n], d)
			}
		}
	}

	tests := map[string]int{"transfer": 3} // replicas where it matters
	for _, name := range known {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if len(served[name]) != 1 {
				t.Fatalf("%d Deployments run `serve %s`, want 1", len(served[name]), name)
			}
			d := served[name][0]
			var w workload
			d.decode(t, &w)
			if want, ok := tests[name]; ok && replicas(w) != want {
				t.Errorf("replicas = %d, want %d", replicas(w), want)
			}
			c := w.Spec.Template.Spec.Containers[slices.IndexFunc(w.Spec.Template.Spec.Containers, func(c container) bool {
				_, ok := servedName(c)
				return ok
			})]
			if repo, _, _ := strings.Cut(path.Base(c.Image), ":"); repo != "mailferry" {
				t.Errorf("image %q, want the mailferry image (Tilt replaces mailferry:<tag>)", c.Image)
			}
			checkEnvFrom(t, docs, c)
			if name == "project" {
				checkProjectAPI(t, docs, w, c)
			}
		})
	}
}

// checkEnvFrom: the shared ConfigMap and the Secret exist and carry the
// settings every service needs.
func checkEnvFrom(t *testing.T, docs []k8sDoc, c container) {
	t.Helper()
	keys := map[string]string{}
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMapRef != nil:
			d, ok := findDoc(docs, "ConfigMap", e.ConfigMapRef.Name)
			if !ok {
				t.Errorf("envFrom ConfigMap %s does not exist", e.ConfigMapRef.Name)
				continue
			}
			var cm configMap
			d.decode(t, &cm)
			maps.Copy(keys, cm.Data)
		case e.SecretRef != nil:
			d, ok := findDoc(docs, "Secret", e.SecretRef.Name)
			if !ok {
				t.Errorf("envFrom Secret %s does not exist", e.SecretRef.Name)
				continue
			}
			var s secret
			d.decode(t, &s)
			maps.Copy(keys, s.StringData)
			maps.Copy(keys, s.Data)
		}
	}
	for _, e := range c.Env {
		keys[e.Name] = e.Value
	}
	for _, key := range []string{"MAILFERRY_NATS_URL", "MAILFERRY_VAULT_KEY", "MAILFERRY_OPERATOR_KEY", "OTEL_SERVICE_NAME"} {
		if _, ok := keys[key]; !ok {
			t.Errorf("container gets no %s", key)
		}
	}
	u, err := url.Parse(keys["MAILFERRY_NATS_URL"])
	if err != nil || u.Scheme != "nats" {
		t.Errorf("MAILFERRY_NATS_URL = %q, want nats://<service>:4222", keys["MAILFERRY_NATS_URL"])
		return
	}
	svc, _, _ := strings.Cut(u.Hostname(), ".")
	if _, ok := findDoc(docs, "Service", svc); !ok {
		t.Errorf("MAILFERRY_NATS_URL host %q is not a Service of the manifests", u.Hostname())
	}
}

// checkProjectAPI: the API port has a readiness probe and a Service in front.
func checkProjectAPI(t *testing.T, docs []k8sDoc, w workload, c container) {
	t.Helper()
	if c.ReadinessProbe == nil {
		t.Fatalf("project has no readinessProbe")
	}
	var ref portRef
	switch {
	case c.ReadinessProbe.HTTPGet != nil:
		ref = c.ReadinessProbe.HTTPGet.Port
	case c.ReadinessProbe.TCPSocket != nil:
		ref = c.ReadinessProbe.TCPSocket.Port
	}
	if p, ok := c.port(ref); !ok || p != 8080 {
		t.Errorf("readinessProbe port %s is not the API port 8080", ref)
	}
	exposed := false
	for _, d := range docsOfKind(docs, "Service") {
		var s k8sService
		d.decode(t, &s)
		if len(s.Spec.Selector) == 0 {
			continue
		}
		selects := true
		for k, v := range s.Spec.Selector {
			if w.Spec.Template.Metadata.Labels[k] != v {
				selects = false
			}
		}
		for _, p := range s.Spec.Ports {
			if target, ok := c.port(p.TargetPort); selects && ok && target == 8080 {
				exposed = true
			}
		}
	}
	if !exposed {
		t.Errorf("no Service selects the project pods on port 8080")
	}
}

func TestK8sResources(t *testing.T) {
	t.Parallel()
	docs := append(docsOfKind(k8sDocs(t), "Deployment"), docsOfKind(k8sDocs(t), "StatefulSet")...)
	for _, d := range docs {
		t.Run(d.meta.Kind+"/"+d.meta.Metadata.Name, func(t *testing.T) {
			t.Parallel()
			var w workload
			d.decode(t, &w)
			if len(w.Spec.Template.Spec.Containers) == 0 {
				t.Fatalf("no containers")
			}
			for _, c := range w.Spec.Template.Spec.Containers {
				for _, res := range []string{"cpu", "memory"} {
					if c.Resources.Requests[res] == "" || c.Resources.Limits[res] == "" {
						t.Errorf("container %s: %s request %q limit %q, want both", c.Name, res,
							c.Resources.Requests[res], c.Resources.Limits[res])
					}
				}
			}
		})
	}
}

func TestSecretIsATemplate(t *testing.T) {
	t.Parallel()
	secrets := docsOfKind(k8sDocs(t), "Secret")
	if len(secrets) == 0 {
		t.Fatalf("no Secret template")
	}
	keys := map[string]bool{}
	for _, d := range secrets {
		var s secret
		d.decode(t, &s)
		if len(s.Data) != 0 {
			t.Errorf("%s has base64 data:, keep only clearly marked stringData placeholders", d)
		}
		for k, v := range s.StringData {
			keys[k] = true
			if !strings.Contains(v, "REPLACE_ME") {
				t.Errorf("%s: %s is not a REPLACE_ME placeholder; never commit a real secret", d, k)
			}
		}
	}
	for _, k := range []string{"MAILFERRY_VAULT_KEY", "MAILFERRY_OPERATOR_KEY"} {
		if !keys[k] {
			t.Errorf("no Secret carries %s", k)
		}
	}
}

// ---------------------------------------------------------------------------
// tilt/Tiltfile

var (
	starlarkStringRe   = regexp.MustCompile(`'([^'\\\n]*)'|"([^"\\\n]*)"`)
	starlarkCommentRe  = regexp.MustCompile(`(?m)^\s*#.*$|\s+#[^'"\n]*$`)
	starlarkFirstArgRe = regexp.MustCompile(`^\s*(['"])([^'"\n]*)['"]\s*(,|$)`)
	starlarkCallRe     = regexp.MustCompile(`(?s)\b(docker_build|k8s_yaml|k8s_resource|kustomize|docker_compose)\((.*?)\)`)
)

func TestTiltfile(t *testing.T) {
	t.Parallel()
	src := starlarkCommentRe.ReplaceAllString(readFile(t, tiltfile), "")
	tiltDir := path.Dir(tiltfile)

	// Every string that looks like a relative path resolves from tilt/.
	var paths []string
	for _, m := range starlarkStringRe.FindAllStringSubmatch(src, -1) {
		s := m[1] + m[2]
		if s == "." || s == ".." || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
			paths = append(paths, s)
		}
	}
	if len(paths) == 0 {
		t.Fatalf("%s references no file", tiltfile)
	}
	for _, p := range paths {
		t.Run("exists "+p, func(t *testing.T) {
			t.Parallel()
			if rel := path.Join(tiltDir, p); !exists(t, rel) {
				t.Errorf("%s references %s (%s), which does not exist", tiltfile, p, rel)
			}
		})
	}

	calls := map[string][]string{}
	for _, m := range starlarkCallRe.FindAllStringSubmatch(src, -1) {
		calls[m[1]] = append(calls[m[1]], m[2])
	}
	resolves := func(args, want string) bool {
		for _, m := range starlarkStringRe.FindAllStringSubmatch(args, -1) {
			if path.Join(tiltDir, m[1]+m[2]) == want {
				return true
			}
		}
		return false
	}
	t.Run("docker_build", func(t *testing.T) {
		t.Parallel()
		if len(calls["docker_build"]) != 1 {
			t.Fatalf("%d docker_build calls, want 1", len(calls["docker_build"]))
		}
		args := calls["docker_build"][0]
		if !resolves(args, dockerfile) {
			t.Errorf("docker_build does not use %s: %s", dockerfile, args)
		}
		if !resolves(args, ".") {
			t.Errorf("docker_build context is not the repository root: %s", args)
		}
		if m := starlarkStringRe.FindStringSubmatch(args); m == nil || m[1]+m[2] != "mailferry" {
			t.Errorf("docker_build image ref is not mailferry (the manifests' image): %s", args)
		}
	})
	t.Run("deploys", func(t *testing.T) {
		t.Parallel()
		k8s := strings.Join(calls["k8s_yaml"], " ") + " " + strings.Join(calls["kustomize"], " ")
		compose := strings.Join(calls["docker_compose"], " ")
		if !resolves(k8s, k8sDir) && !resolves(compose, composeFile) {
			t.Errorf("the Tiltfile deploys neither %s (k8s_yaml) nor %s (docker_compose)", k8sDir, composeFile)
		}
		if !strings.Contains(src, "8080") {
			t.Errorf("no port-forward of the API port 8080")
		}
	})
	t.Run("k8s_resource names", func(t *testing.T) {
		t.Parallel()
		docs := k8sDocs(t)
		names := map[string]bool{}
		for _, d := range append(docsOfKind(docs, "Deployment"), docsOfKind(docs, "StatefulSet")...) {
			names[d.meta.Metadata.Name] = true
		}
		for _, args := range calls["k8s_resource"] {
			m := starlarkFirstArgRe.FindStringSubmatch(args)
			if m == nil {
				continue // a computed name ('mailferry-' + name): checked below
			}
			if n := m[2]; !names[n] {
				t.Errorf("k8s_resource(%q): no such workload", n)
			}
		}
		for _, name := range app.ServiceNames() {
			if !strings.Contains(src, "'"+name+"'") && !strings.Contains(src, `"`+name+`"`) &&
				!strings.Contains(src, "mailferry-"+name) {
				t.Errorf("service %s has no k8s_resource", name)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// deploy/Dockerfile

type instruction struct {
	cmd  string // upper case
	args string
}

// dockerInstructions parses a Dockerfile: comments dropped, continuations joined.
func dockerInstructions(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
	}
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return out
}

// workspaceModules are the `use` directories of go.work, relative to the root.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	var dirs []string
	inUse := false
	for _, line := range strings.Split(readFile(t, "go.work"), "\n") {
		line = strings.TrimSpace(strings.SplitN(line, "//", 2)[0])
		switch {
		case inUse && line == ")":
			inUse = false
		case inUse && line != "":
			dirs = append(dirs, path.Clean(line))
		case line == "use (":
			inUse = true
		case strings.HasPrefix(line, "use "):
			dirs = append(dirs, path.Clean(strings.TrimSpace(strings.TrimPrefix(line, "use "))))
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("go.work uses no module")
	}
	return dirs
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	ins := dockerInstructions(readFile(t, dockerfile))
	var froms []int
	for i, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, i)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("%d FROM stages, want a multi-stage build", len(froms))
	}
	build, final := ins[:froms[len(froms)-1]], ins[froms[len(froms)-1]:]

	// COPY sources (flags dropped) in the build stages.
	var copied []string
	for _, in := range build {
		if in.cmd != "COPY" {
			continue
		}
		var fields []string
		for _, f := range strings.Fields(in.args) {
			if !strings.HasPrefix(f, "--") {
				fields = append(fields, f)
			}
		}
		if len(fields) >= 2 {
			for _, src := range fields[:len(fields)-1] {
				copied = append(copied, path.Clean(strings.TrimPrefix(src, "./")))
			}
		}
	}

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"copies go.work", func(t *testing.T) {
			if !slices.Contains(copied, "go.work") {
				t.Errorf("go.work is not copied: %q", copied)
			}
		}},
		{"copies every workspace module", func(t *testing.T) {
			for _, mod := range workspaceModules(t) {
				covered := slices.ContainsFunc(copied, func(src string) bool {
					return src == "." || src == mod || strings.HasPrefix(mod, src+"/")
				})
				if !covered {
					t.Errorf("module %s of go.work is not copied (COPY sources %q)", mod, copied)
				}
			}
		}},
		{"builds ./services/mailferry", func(t *testing.T) {
			re := regexp.MustCompile(`\bgo build\b.*\s-o\s+` + regexp.QuoteMeta(mailferryBinary) + `\s.*\./services/mailferry(\s|$)`)
			if !slices.ContainsFunc(build, func(in instruction) bool { return in.cmd == "RUN" && re.MatchString(in.args+" ") }) {
				t.Errorf("no RUN go build -o %s ./services/mailferry in the build stage", mailferryBinary)
			}
		}},
		{"final stage copies the binary", func(t *testing.T) {
			if !slices.ContainsFunc(final, func(in instruction) bool {
				return in.cmd == "COPY" && strings.Contains(in.args, "--from=") && strings.Contains(in.args, mailferryBinary+" ")
			}) {
				t.Errorf("final stage does not COPY --from=<build> %s", mailferryBinary)
			}
		}},
		{"carries libchdb of the pinned version", func(t *testing.T) {
			// Every process of the binary loads libchdb when it starts.
			if !slices.ContainsFunc(ins, func(in instruction) bool {
				return in.cmd == "ARG" && in.args == "CHDB_VERSION="+chdbenv.Version
			}) {
				t.Errorf("no ARG CHDB_VERSION=%s (the version libs/analytics/chdbenv pins)", chdbenv.Version)
			}
			var lib, env bool
			for _, in := range final {
				lib = lib || in.cmd == "COPY" && strings.Contains(in.args, "--from=") && strings.HasSuffix(in.args, " /usr/local/lib/libchdb.so")
				env = env || in.cmd == "ENV" && strings.Contains(in.args, "CHDB_LIB_PATH=/usr/local/lib/libchdb.so")
			}
			if !lib || !env {
				t.Errorf("final stage: libchdb copied to /usr/local/lib/libchdb.so = %v, CHDB_LIB_PATH set = %v; want both", lib, env)
			}
		}},
		{"runs as non-root", func(t *testing.T) {
			var user string
			for _, in := range final {
				if in.cmd == "USER" {
					user = in.args
				}
			}
			name, _, _ := strings.Cut(user, ":")
			if name == "" || name == "root" || name == "0" {
				t.Errorf("final stage USER = %q, want a non-root user", user)
			}
		}},
		{"entrypoint is the binary", func(t *testing.T) {
			var entry string
			for _, in := range final {
				if in.cmd == "ENTRYPOINT" {
					entry = in.args
				}
			}
			var argv []string
			if err := json.Unmarshal([]byte(entry), &argv); err != nil || !slices.Equal(argv, []string{mailferryBinary}) {
				t.Errorf("ENTRYPOINT %s, want [%q]", entry, mailferryBinary)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t)
		})
	}
}
