#!/usr/bin/env bash
# testbed.sh runs a real, local Kubernetes control plane for Kubently's integration
# and e2e tests, without Docker or a kubelet: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler built from source through the Go
# module proxy, plus kwok faking one node, pod status and the kubelet log endpoint.
#
# See docs/testbed.md for the operator guide and
# /work/shared/reference/k8s-testbed.md for the measurements behind the choices.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---- versions (one pinned set; override through the environment) ------------
KUBE_VERSION=${KUBE_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16} # "system" uses Debian's etcd-server (3.4) instead
KWOK_VERSION=${KWOK_VERSION:-0.8.0}

# ---- runtime settings ---------------------------------------------------------
TESTBED_DIR=${TESTBED_DIR:-/tmp/kubently-testbed}
TESTBED_APISERVER_PORT=${TESTBED_APISERVER_PORT:-16443}
TESTBED_ETCD_CLIENT_PORT=${TESTBED_ETCD_CLIENT_PORT:-12379}
TESTBED_ETCD_PEER_PORT=${TESTBED_ETCD_PEER_PORT:-12380}
TESTBED_KWOK_PORT=${TESTBED_KWOK_PORT:-10247}
TESTBED_UP_TIMEOUT=${TESTBED_UP_TIMEOUT:-90} # seconds for each wait in `up`

NODE_NAME=kwok-node-0
VIEWER_SA=kubently-viewer
VIEWER_NS=kube-system
SEED_NS=demo
# Fixed so the link step stays cacheable and builds are reproducible.
BUILD_DATE=2026-01-01T00:00:00Z
# Bump when the build recipe changes so existing stamps are invalidated.
RECIPE=1
# Start order; `down` stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

CACHE_ROOT=${KUBENTLY_CACHE_DIR:-$HOME/.cache/kubently}/testbed
PKI_DIR=$TESTBED_DIR/pki
LOG_DIR=$TESTBED_DIR/logs
PID_DIR=$TESTBED_DIR/pids
PODLOG_DIR=$TESTBED_DIR/podlogs
KUBECONFIG_FILE=$TESTBED_DIR/kubeconfig
VIEWER_KUBECONFIG_FILE=$TESTBED_DIR/viewer.kubeconfig
UP_MARKER=$TESTBED_DIR/.up
LOCK_FILE=$TESTBED_DIR.lock

log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

usage() {
	cat <<EOF
Usage: $(basename "$0") <command>

Commands:
  build   build etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
          kubectl and kwok into the cache (about 8 min cold, instant when stamped)
  up      start the control plane plus one fake node (idempotent; builds first)
  down    stop every process and delete the runtime dir and etcd data
  status  show processes and /readyz; exit non-zero unless fully up
  env     print shell exports (eval "\$($(basename "$0") env)")
  seed    apply the small demo seed (namespace $SEED_NS) with per-pod logs
  update-mods
          regenerate the committed throwaway modules hack/testbed/{kubernetes,etcd}
          for the pinned versions (maintainers only; needs the module proxy)
  help    show this text

Environment (defaults in brackets):
  KUBE_VERSION [$KUBE_VERSION]  ETCD_VERSION [$ETCD_VERSION] ("system" = Debian etcd-server)
  KWOK_VERSION [$KWOK_VERSION]
  KUBENTLY_CACHE_DIR [\$HOME/.cache/kubently]  binaries go to <dir>/testbed/<key>/bin
  TESTBED_DIR [/tmp/kubently-testbed]  runtime dir (kubeconfigs, pki, logs, pids)
  TESTBED_APISERVER_PORT [16443]  TESTBED_ETCD_CLIENT_PORT [12379]
  TESTBED_ETCD_PEER_PORT [12380]  TESTBED_KWOK_PORT [10247]
  TESTBED_UP_TIMEOUT [90]  seconds allowed for each readiness wait in up
  TESTBED_KUBECONFIG  seed only: apply the seed with this kubeconfig instead
EOF
}

# ---- helpers --------------------------------------------------------------------

go_env() { (cd / && GOWORK=off go env "$1"); }

need_go() { command -v go >/dev/null || die "go is not on PATH (need Go >= 1.26)"; }

# ensure_cmd CMD APT_PACKAGE installs the package through apt when CMD is missing.
ensure_cmd() {
	command -v "$1" >/dev/null && return 0
	command -v apt-get >/dev/null || die "$1 is missing and apt-get is not available; install $2"
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "$1 is missing; run: apt-get install -y $2"
		sudo=(sudo)
	fi
	log "installing $2 with apt-get"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 ||
		{ "${sudo[@]}" apt-get update -q >&2 && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; }
	command -v "$1" >/dev/null || die "installing $2 did not provide $1"
}

# Build cache layout. Computing it needs `go env GOVERSION`, so it is lazy.
init_paths() {
	[[ -n ${BIN_DIR:-} ]] && return 0
	need_go
	GO_VERSION=$(go_env GOVERSION)
	BUILD_KEY=k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_${GO_VERSION}
	BUILD_DIR=$CACHE_ROOT/$BUILD_KEY
	BIN_DIR=$BUILD_DIR/bin
	KUBECTL=$BIN_DIR/kubectl
}

# kc runs the built kubectl against the admin kubeconfig.
kc() { "$KUBECTL" --kubeconfig="$KUBECONFIG_FILE" "$@"; }

lock_runtime() {
	mkdir -p "$(dirname "$LOCK_FILE")"
	exec 9>"$LOCK_FILE"
	if ! flock -n 9; then
		log "waiting for another testbed.sh holding $LOCK_FILE"
		flock 9
	fi
}

# alive PID succeeds while PID runs. Zombies count as gone: a daemon whose `up`
# has exited is reparented to PID 1, which may reap it only seconds later.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of NAME prints the pid of a running component, or fails. A pid only counts
# when /proc shows it still runs our binary, so a recycled pid is never signalled.
pid_of() {
	local f=$PID_DIR/$1.pid pid exe
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ -n $pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	exe=${exe% (deleted)}
	[[ ${exe##*/} == "$1" ]] || return 1
	echo "$pid"
}

# ---- build ----------------------------------------------------------------------

# run_heartbeat LABEL CMD... runs CMD and prints a line every 30 s while it works.
run_heartbeat() {
	local label=$1 start=$SECONDS next=$((SECONDS + 30)) pid rc=0
	shift
	"$@" &
	pid=$!
	trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if ((SECONDS >= next)); then
			log "  ... still building $label ($((SECONDS - start))s)"
			next=$((next + 30))
		fi
	done
	wait "$pid" || rc=$?
	trap - INT TERM
	((rc == 0)) || die "building $label failed (exit $rc)"
	log "  $label done in $((SECONDS - start))s"
}

# mod_dir NAME MODULE VERSION prints the throwaway module directory to build from:
# the committed one under hack/testbed/NAME when it pins VERSION, else one
# generated in the cache (for version overrides).
mod_dir() {
	local name=$1 module=$2 version=$3 dir=$SCRIPT_DIR/$1
	if [[ -f $dir/go.sum ]] && grep -Eq "^[[:space:]]*(require )?$module v$version( |$)" "$dir/go.mod"; then
		echo "$dir"
		return 0
	fi
	dir=$CACHE_ROOT/mods/$name-$version
	if [[ ! -f $dir/go.sum ]]; then
		log "generating throwaway module for $module v$version in $dir" >&2
		"gen_${name}_mod" "$dir" "$version" >&2
	fi
	echo "$dir"
}

mod_header() {
	cat <<EOF
// Code generated by hack/testbed/testbed.sh update-mods; DO NOT EDIT.
//
// Throwaway module used only to build the testbed binaries with GOWORK=off.
// It is deliberately not listed in go.work.
module kubently.io/hack/testbed/$1

go 1.26.0
EOF
}

gen_kubernetes_mod() {
	local dir=$1 version=$2 staging gomod
	staging=0.${version#*.}
	rm -rf "$dir" && mkdir -p "$dir"
	gomod=$(cd "$dir" && GOWORK=off go mod download -json "k8s.io/kubernetes@v$version" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[[ -f $gomod ]] || die "could not download k8s.io/kubernetes@v$version"
	{
		mod_header kubernetes
		echo
		echo "// Every staging module k8s.io/kubernetes replaces with ./staging/src/..., pinned to"
		echo "// its published v$staging (sample-* modules are skipped: not published, not needed)."
		echo "replace ("
		awk '$2 == "=>" && $3 ~ /^\.\/staging\/src\// { print $1 }' "$gomod" | sort -u |
			grep -v -e '^k8s.io/sample-cli-plugin$' -e '^k8s.io/sample-controller$' |
			while read -r m; do printf '\t%s => %s v%s\n' "$m" "$m" "$staging"; done
		echo ")"
	} >"$dir/go.mod"
	(cd "$dir" && GOWORK=off go get -tool \
		"k8s.io/kubernetes/cmd/kube-apiserver@v$version" \
		"k8s.io/kubernetes/cmd/kube-controller-manager@v$version" \
		"k8s.io/kubernetes/cmd/kube-scheduler@v$version" \
		"k8s.io/kubernetes/cmd/kubectl@v$version")
}

gen_etcd_mod() {
	local dir=$1 version=$2
	rm -rf "$dir" && mkdir -p "$dir"
	mod_header etcd >"$dir/go.mod"
	(cd "$dir" && GOWORK=off go get -tool "go.etcd.io/etcd/server/v3@v$version")
}

stamp_value() {
	local sums
	sums=$(cat "$SCRIPT_DIR"/kubernetes/go.sum "$SCRIPT_DIR"/etcd/go.sum 2>/dev/null | sha256sum | cut -c1-16)
	echo "recipe=$RECIPE key=$BUILD_KEY mods=$sums"
}

stamp_ok() {
	local b
	[[ -f $BIN_DIR/.stamp && $(<"$BIN_DIR/.stamp") == "$(stamp_value)" ]] || return 1
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
		[[ -x $BIN_DIR/$b ]] || return 1
	done
}

build_etcd() {
	if [[ $ETCD_VERSION == system ]]; then
		ensure_cmd etcd etcd-server
		ln -sf "$(command -v etcd)" "$BIN_DIR/etcd"
		log "[1/3] etcd: using $(command -v etcd) ($(etcd --version | head -1))"
		return 0
	fi
	local dir
	dir=$(mod_dir etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION")
	log "[1/3] etcd v$ETCD_VERSION from $dir (about 50 s cold)"
	run_heartbeat etcd env -C "$dir" GOWORK=off CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v$ETCD_VERSION" \
		-o "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3
}

build_kubernetes() {
	local dir ld="-s -w" pkg major=${KUBE_VERSION%%.*} minor=${KUBE_VERSION#*.}
	minor=${minor%%.*}
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
	done
	dir=$(mod_dir kubernetes k8s.io/kubernetes "$KUBE_VERSION")
	log "[2/3] kubernetes v$KUBE_VERSION (apiserver, controller-manager, scheduler, kubectl) from $dir (about 6 min cold)"
	run_heartbeat kubernetes env -C "$dir" GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$ld" \
		-o "$BIN_DIR/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

build_kwok() {
	local src assets=$BIN_DIR/kwok-assets f
	log "[3/3] kwok v$KWOK_VERSION (about 70 s cold)"
	run_heartbeat kwok env -C "$BUILD_DIR" GOWORK=off GOBIN="$BIN_DIR" CGO_ENABLED=0 \
		go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
	# The standalone kwok binary has no built-in stages: copy them from the module zip.
	src=$(cd "$BUILD_DIR" && GOWORK=off go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $src/kustomize ]] || die "kwok module source not found (got '$src')"
	rm -rf "$assets" && mkdir -p "$assets/stages" "$assets/crds"
	for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
		pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
		cp "$src/kustomize/stage/$f.yaml" "$assets/stages/"
	done
	cp "$src/kustomize/crd/bases/kwok.x-k8s.io_logs.yaml" "$assets/crds/"
	chmod -R u+w "$assets"
}

cmd_build() {
	init_paths
	mkdir -p "$BUILD_DIR"
	exec 8>"$BUILD_DIR.lock"
	if ! flock -n 8; then
		log "waiting for another build holding $BUILD_DIR.lock"
		flock 8
	fi
	if stamp_ok; then
		log "binaries up to date in $BIN_DIR"
		exec 8>&-
		return 0
	fi
	local t0
	t0=$(now)
	log "building into $BIN_DIR (cold: about 8 min on 2 cores; warm GOCACHE: seconds)"
	rm -f "$BIN_DIR/.stamp"
	mkdir -p "$BIN_DIR"
	build_etcd
	build_kubernetes
	build_kwok
	stamp_value >"$BIN_DIR/.stamp"
	log "build done in $(since "$t0")"
	exec 8>&-
}

cmd_update_mods() {
	need_go
	log "regenerating $SCRIPT_DIR/kubernetes for k8s.io/kubernetes v$KUBE_VERSION"
	gen_kubernetes_mod "$SCRIPT_DIR/kubernetes" "$KUBE_VERSION"
	log "regenerating $SCRIPT_DIR/etcd for go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
	gen_etcd_mod "$SCRIPT_DIR/etcd" "$ETCD_VERSION"
	log "done; commit hack/testbed/{kubernetes,etcd}/go.{mod,sum}"
}

# ---- up ---------------------------------------------------------------------------

# start NAME ARGS... starts a component detached from the caller: own session, no
# inherited lock fds, stdout/stderr to logs/NAME.log (so a caller reading our
# output through a pipe, such as exec.Cmd in go test, is not kept waiting).
start() {
	local name=$1 unset=() v
	shift
	log "starting $name"
	# etcd reads ETCD_* variables as flags: an exported ETCD_VERSION (our knob)
	# would make it fail with `invalid value ... for ETCD_VERSION`.
	if [[ $name == etcd ]]; then
		for v in $(compgen -e); do [[ $v != ETCD_* ]] || unset+=(-u "$v"); done
	fi
	# shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner shell
	setsid env "${unset[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$PID_DIR/$name.pid" "$BIN_DIR/$name" "$@" \
		</dev/null >"$LOG_DIR/$name.log" 2>&1 8>&- 9>&- &
	local i pid
	# Wait until the wrapper shell has exec'd the binary (pid_of checks /proc/PID/exe).
	for i in $(seq 250); do
		pid_of "$name" >/dev/null && return 0
		if [[ -s $PID_DIR/$name.pid ]]; then
			pid=$(<"$PID_DIR/$name.pid")
			alive "$pid" || check_alive
		fi
		sleep 0.02
	done
	die "$name did not start"
}

# check_alive dies with the log tail of any started component that has exited.
check_alive() {
	local name
	for name in "${COMPONENTS[@]}"; do
		[[ -f $PID_DIR/$name.pid ]] || continue
		if ! pid_of "$name" >/dev/null; then
			log "$name exited; last lines of $LOG_DIR/$name.log:"
			tail -n 25 "$LOG_DIR/$name.log" >&2 || true
			die "$name failed"
		fi
	done
}

# wait_for DESC CMD... polls CMD every 0.2 s for TESTBED_UP_TIMEOUT seconds.
wait_for() {
	local desc=$1 deadline=$((SECONDS + TESTBED_UP_TIMEOUT))
	shift
	until "$@" >/dev/null 2>&1; do
		check_alive
		((SECONDS < deadline)) || die "timed out after ${TESTBED_UP_TIMEOUT}s waiting for $desc"
		sleep 0.2
	done
}

readyz_ok() { [[ $(kc get --raw=/readyz 2>/dev/null) == ok ]]; }
node_ready() {
	[[ $(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

healthy() {
	local name
	[[ -f $UP_MARKER && -x $KUBECTL ]] || return 1
	for name in "${COMPONENTS[@]}"; do pid_of "$name" >/dev/null || return 1; done
	readyz_ok
}

gen_pki() {
	local d=$PKI_DIR
	mkdir -p "$d"
	(
		cd "$d"
		umask 077
		openssl ecparam -name prime256v1 -genkey -noout -out ca.key
		openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=kubently-testbed-ca" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-out ca.crt
		cat >apiserver.ext <<-EOF
			basicConstraints=CA:FALSE
			keyUsage=critical,digitalSignature,keyEncipherment
			extendedKeyUsage=serverAuth,clientAuth
			subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1
		EOF
		cat >client.ext <<-EOF
			basicConstraints=CA:FALSE
			keyUsage=critical,digitalSignature,keyEncipherment
			extendedKeyUsage=clientAuth
		EOF
		sign() { # name subject extfile
			openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
			openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
				-extfile "$3" -out "$1.crt" 2>/dev/null
		}
		sign apiserver "/CN=kube-apiserver" apiserver.ext
		sign admin "/O=system:masters/CN=kubently-testbed-admin" client.ext
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		printf '%s,admin,admin,"system:masters"\n' "$(openssl rand -hex 32)" >tokens.csv
	) >/dev/null
}

# write_kubeconfig FILE USER TOKEN writes a self-contained kubeconfig (CA inline).
write_kubeconfig() {
	local ca
	ca=$(base64 -w0 <"$PKI_DIR/ca.crt")
	(
		umask 077
		cat >"$1" <<-EOF
			apiVersion: v1
			kind: Config
			clusters:
			- name: kubently-testbed
			  cluster:
			    server: https://127.0.0.1:$TESTBED_APISERVER_PORT
			    certificate-authority-data: $ca
			users:
			- name: $2
			  user:
			    token: $3
			contexts:
			- name: kubently-testbed
			  context:
			    cluster: kubently-testbed
			    user: $2
			current-context: kubently-testbed
		EOF
	)
}

render_kwok_config() {
	local f first=1
	{
		for f in "$BIN_DIR"/kwok-assets/stages/*.yaml "$SCRIPT_DIR"/kwok/*.yaml; do
			((first)) || echo "---"
			first=0
			cat "$f"
		done
		echo "---"
		sed "s|@PODLOG_DIR@|$PODLOG_DIR|g" "$SCRIPT_DIR/kwok/cluster-logs.yaml.in"
	} >"$TESTBED_DIR/kwok.yaml"
	mkdir -p "$PODLOG_DIR"
	printf '2026-01-01T00:00:00.000000000Z stdout F kwok testbed: no Logs object for this pod, this is the default log\n' \
		>"$PODLOG_DIR/default.log"
	printf '2026-01-01T00:00:00.000000000Z stdout F kwok testbed: default previous log\n' \
		>"$PODLOG_DIR/previous.log"
}

etcd_data_dir() {
	if [[ -d /dev/shm && -w /dev/shm ]]; then
		echo "/dev/shm/kubently-testbed-etcd.$(id -u).$TESTBED_ETCD_CLIENT_PORT"
	else
		echo "$TESTBED_DIR/etcd-data"
	fi
}

do_up() {
	local t0 port etcd_data extra=() token
	t0=$(now)
	ensure_cmd openssl openssl
	for port in "$TESTBED_APISERVER_PORT" "$TESTBED_ETCD_CLIENT_PORT" "$TESTBED_ETCD_PEER_PORT" "$TESTBED_KWOK_PORT"; do
		port_in_use "$port" && die "port $port is already in use (set TESTBED_*_PORT to move the testbed)"
	done
	mkdir -p "$TESTBED_DIR" "$LOG_DIR" "$PID_DIR" "$PODLOG_DIR"
	gen_pki
	write_kubeconfig "$KUBECONFIG_FILE" admin "$(cut -d, -f1 "$PKI_DIR/tokens.csv")"

	etcd_data=$(etcd_data_dir)
	rm -rf "$etcd_data"
	echo "$etcd_data" >"$TESTBED_DIR/etcd-data-dir"
	# etcd >= 3.5 only; the data dir is on tmpfs anyway.
	"$BIN_DIR/etcd" --help 2>&1 | grep -q -- --unsafe-no-fsync && extra+=(--unsafe-no-fsync)
	local etcd_url=http://127.0.0.1:$TESTBED_ETCD_CLIENT_PORT peer_url=http://127.0.0.1:$TESTBED_ETCD_PEER_PORT
	start etcd --name testbed --data-dir "$etcd_data" \
		--listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
		--listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
		--initial-cluster "testbed=$peer_url" --log-level warn "${extra[@]}"
	wait_for "etcd on port $TESTBED_ETCD_CLIENT_PORT" port_in_use "$TESTBED_ETCD_CLIENT_PORT"

	# --endpoint-reconciler-type=none: 127.0.0.1 as advertise address is otherwise fatal.
	# --kubelet-preferred-address-types=InternalIP: kwok's node hostnames do not resolve.
	start kube-apiserver --etcd-servers="$etcd_url" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$TESTBED_APISERVER_PORT" \
		--endpoint-reconciler-type=none \
		--tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
		--client-ca-file="$PKI_DIR/ca.crt" --token-auth-file="$PKI_DIR/tokens.csv" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI_DIR/sa.pub" --service-account-signing-key-file="$PKI_DIR/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true --authorization-mode=Node,RBAC \
		--kubelet-preferred-address-types=InternalIP \
		--kubelet-client-certificate="$PKI_DIR/admin.crt" --kubelet-client-key="$PKI_DIR/admin.key"
	wait_for "kube-apiserver /readyz" readyz_ok
	log "apiserver ready after $(since "$t0")"

	# CRDs first: kwok watches Logs (--enable-crds=Logs) as soon as it starts.
	kc apply -f "$BIN_DIR/kwok-assets/crds/" -f "$SCRIPT_DIR/manifests/metrics-crds.yaml" >/dev/null
	render_kwok_config

	# --secure-port=0: no serving, so no requestheader CA bundle spam and no ports.
	start kube-controller-manager --kubeconfig="$KUBECONFIG_FILE" --secure-port=0 --leader-elect=false \
		--use-service-account-credentials=false \
		--service-account-private-key-file="$PKI_DIR/sa.key" --root-ca-file="$PKI_DIR/ca.crt"
	start kube-scheduler --kubeconfig="$KUBECONFIG_FILE" --secure-port=0 --leader-elect=false
	# --cidr: kwok's default pod CIDR overlaps the service range.
	start kwok --kubeconfig="$KUBECONFIG_FILE" --config="$TESTBED_DIR/kwok.yaml" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--node-ip=127.0.0.1 --node-port="$TESTBED_KWOK_PORT" --server-address="127.0.0.1:$TESTBED_KWOK_PORT" \
		--tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
		--node-lease-duration-seconds=40 --enable-crds=Logs --cidr=10.244.0.1/16

	kc apply -f "$SCRIPT_DIR/manifests/node.yaml" -f "$SCRIPT_DIR/manifests/viewer.yaml" >/dev/null
	wait_for "node $NODE_NAME Ready" node_ready
	wait_for "the default ServiceAccount" kc -n default get serviceaccount default
	wait_for "the metrics.k8s.io CRDs" kc wait --for=condition=Established --timeout=1s \
		crd/pods.metrics.k8s.io crd/nodes.metrics.k8s.io crd/logs.kwok.x-k8s.io

	token=$(kc -n "$VIEWER_NS" create token "$VIEWER_SA" --duration=8760h)
	write_kubeconfig "$VIEWER_KUBECONFIG_FILE" "$VIEWER_SA" "$token"
	date -u +%FT%TZ >"$UP_MARKER"
	log "testbed up in $(since "$t0"): KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_up() {
	cmd_build
	lock_runtime
	if healthy; then
		log "already up: KUBECONFIG=$KUBECONFIG_FILE"
		return 0
	fi
	if [[ -e $TESTBED_DIR ]]; then
		log "found a stale or partial testbed in $TESTBED_DIR; cleaning it up first"
		stop_all
		remove_runtime
	fi
	# On failure, stop what was started but keep logs/ for inspection; the next
	# `up` cleans the directory.
	trap 'stop_all; [[ ! -d $LOG_DIR ]] || log "up failed; logs are in $LOG_DIR"' EXIT
	do_up
	trap - EXIT
}

# ---- down -------------------------------------------------------------------------

# stop_all sends SIGTERM in reverse start order, waiting up to 10 s per process
# before SIGKILL.
stop_all() {
	local i name pid n
	for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
		name=${COMPONENTS[i]}
		pid=$(pid_of "$name") || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for ((n = 0; n < 100; n++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			log "$name (pid $pid) ignored SIGTERM for 10s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		log "stopped $name (pid $pid)"
	done
}

remove_runtime() {
	local data
	if [[ -f $TESTBED_DIR/etcd-data-dir ]]; then
		data=$(<"$TESTBED_DIR/etcd-data-dir")
		[[ $data == */kubently-testbed-etcd* || $data == "$TESTBED_DIR"/* ]] && rm -rf "$data"
	fi
	rm -rf "$TESTBED_DIR"
}

cmd_down() {
	local t0
	t0=$(now)
	[[ -e $TESTBED_DIR ]] || {
		log "not running ($TESTBED_DIR does not exist)"
		return 0
	}
	lock_runtime
	stop_all
	remove_runtime
	log "down in $(since "$t0")"
}

# ---- status, env ----------------------------------------------------------------

cmd_status() {
	init_paths
	local name pid rc=0
	echo "runtime dir: $TESTBED_DIR"
	echo "binaries:    $BIN_DIR$(stamp_ok || echo ' (not built)')"
	for name in "${COMPONENTS[@]}"; do
		if pid=$(pid_of "$name"); then
			printf '  %-24s running (pid %s)\n' "$name" "$pid"
		else
			printf '  %-24s not running\n' "$name"
			rc=1
		fi
	done
	if [[ -x $KUBECTL && -f $KUBECONFIG_FILE ]] && readyz_ok; then
		printf '  %-24s ok (https://127.0.0.1:%s)\n' /readyz "$TESTBED_APISERVER_PORT"
		if node_ready; then printf '  %-24s Ready\n' "node/$NODE_NAME"; else
			printf '  %-24s not Ready\n' "node/$NODE_NAME"
			rc=1
		fi
	else
		printf '  %-24s not ok\n' /readyz
		rc=1
	fi
	[[ -f $UP_MARKER ]] || rc=1
	if ((rc == 0)); then echo "status: up"; else echo "status: not up"; fi
	return "$rc"
}

cmd_env() {
	init_paths
	printf "export TESTBED_DIR='%s'\n" "$TESTBED_DIR"
	printf "export TESTBED_BIN='%s'\n" "$BIN_DIR"
	printf "export KUBECONFIG='%s'\n" "$KUBECONFIG_FILE"
	printf "export KUBENTLY_TEST_KUBECONFIG='%s'\n" "$KUBECONFIG_FILE"
	printf "export KUBENTLY_TEST_VIEWER_KUBECONFIG='%s'\n" "$VIEWER_KUBECONFIG_FILE"
	printf "export KUBEBUILDER_ASSETS='%s'\n" "$BIN_DIR"
	# shellcheck disable=SC2016 # $PATH expands when the output is eval'd
	printf 'export PATH="%s:$PATH"\n' "$BIN_DIR"
}

# ---- seed -------------------------------------------------------------------------

# write_cri_log FILE STREAM MESSAGE... writes CRI-format lines, one second apart.
write_cri_log() {
	local file=$1 stream=$2 i=0 msg
	shift 2
	mkdir -p "$(dirname "$file")"
	: >"$file"
	for msg in "$@"; do
		printf '2026-01-01T00:00:%02d.000000000Z %s F %s\n' "$i" "$stream" "$msg" >>"$file"
		i=$((i + 1))
	done
}

# logs_object POD CONTAINER CURRENT [PREVIOUS] prints a kwok Logs object.
logs_object() {
	cat <<-EOF
		---
		apiVersion: kwok.x-k8s.io/v1alpha1
		kind: Logs
		metadata:
		  name: $1
		  namespace: $SEED_NS
		spec:
		  logs:
		  - containers: [$2]
		    logsFile: $3
	EOF
	[[ -z ${4:-} ]] || printf '    previousLogsFile: %s\n' "$4"
}

cmd_seed() {
	init_paths
	[[ -x $KUBECTL ]] || die "kubectl not built; run: $0 build"
	local t0 pod dir objs=""
	t0=$(now)
	if [[ -n ${TESTBED_KUBECONFIG:-} ]]; then
		KUBECONFIG_FILE=$TESTBED_KUBECONFIG
	else
		healthy || die "testbed is not up; run: $0 up"
	fi
	lock_runtime
	kc apply -f "$SCRIPT_DIR/seed/" >&2
	kc -n "$SEED_NS" rollout status deployment/web --timeout=60s >&2
	kc -n "$SEED_NS" wait --for=jsonpath='{.status.phase}'=Running pod/crashy --timeout=60s >&2

	for pod in $(kc -n "$SEED_NS" get pods -l app=web -o 'jsonpath={.items[*].metadata.name}'); do
		dir=$PODLOG_DIR/$SEED_NS/$pod
		write_cri_log "$dir/nginx.log" stdout \
			"hello from web ($pod)" \
			"/docker-entrypoint.sh: Configuration complete; ready for start up" \
			'10.244.0.1 - - [01/Jan/2026:00:00:02 +0000] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0"' \
			'10.244.0.1 - - [01/Jan/2026:00:00:03 +0000] "GET /healthz HTTP/1.1" 404 153 "-" "kube-probe/1.37"'
		objs+=$(logs_object "$pod" nginx "$dir/nginx.log")$'\n'
	done
	dir=$PODLOG_DIR/$SEED_NS/crashy
	write_cri_log "$dir/app.log" stderr \
		"starting crashy v1.4.2" \
		"loading config from /etc/crashy/config.yaml" \
		"panic: dial tcp 10.0.0.53:5432: connect: connection refused"
	write_cri_log "$dir/app-previous.log" stderr \
		"starting crashy v1.4.2" \
		"panic: dial tcp 10.0.0.53:5432: connect: connection refused (previous run)"
	objs+=$(logs_object crashy app "$dir/app.log" "$dir/app-previous.log")$'\n'
	kc apply -f - <<<"$objs" >&2
	log "seeded namespace $SEED_NS in $(since "$t0")"
}

# ---- main -------------------------------------------------------------------------

main() {
	local cmd=${1:-help}
	case $cmd in
	build) cmd_build ;;
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	seed) cmd_seed ;;
	update-mods) cmd_update_mods ;;
	help | -h | --help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
