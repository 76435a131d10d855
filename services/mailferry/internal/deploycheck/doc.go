// Package deploycheck holds no production code: its tests check the deploy
// files of the repository against the binary they deploy.
//
// From the repository root (found by walking up to go.work) they load
// docker-compose.yml with compose-go (schema validation and interpolation on),
// parse every manifest under deploy/k8s, and read deploy/Dockerfile and
// tilt/Tiltfile, checking among other things that:
//
//   - every service of app.ServiceNames is deployed by compose and by the
//     Kubernetes manifests as `mailferry serve <name>`, and nothing else is;
//   - the compose services share the NATS, vault and telemetry settings, wait
//     for a healthy NATS, and the project service publishes its API port;
//   - every Kubernetes document has apiVersion, kind and metadata.name, and
//     kustomization.yaml lists exactly the manifests present;
//   - NATS runs as a three-node JetStream cluster whose routes name the three
//     StatefulSet pods through the headless Service;
//   - the Tiltfile only references files that exist;
//   - the Dockerfile copies the whole go.work workspace and builds
//     ./services/mailferry into a non-root image whose entrypoint is the binary.
//
// Run with `go test ./internal/deploycheck/` from services/mailferry.
package deploycheck
