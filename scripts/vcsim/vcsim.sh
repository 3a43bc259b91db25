#!/usr/bin/env bash
# Installs, builds, starts and stops govmomi's vSphere simulator (vcsim) on
# 127.0.0.1 for esxnet's tests and CI. See scripts/vcsim/README.md.
#
#   bash scripts/vcsim/vcsim.sh install   # apt-get golang-go + govmomi source if missing
#   bash scripts/vcsim/vcsim.sh build     # go build into the build dir
#   bash scripts/vcsim/vcsim.sh start     # build if needed, start in the background, print env lines
#   bash scripts/vcsim/vcsim.sh stop      # stop the server started by `start`
#   bash scripts/vcsim/vcsim.sh restart   # stop, then start a fresh server (fresh model state)
#   bash scripts/vcsim/vcsim.sh url       # print the saved SDK URL
#   bash scripts/vcsim/vcsim.sh status    # exit 0 and print the URL if running, exit 1 if not
#   bash scripts/vcsim/vcsim.sh env       # print the env lines of the running server
#   bash scripts/vcsim/vcsim.sh smoke     # raw SOAP check: ServiceContent, Login, hosts and moids
#
# Environment (all optional):
#   ESXNET_VCSIM_DIR          build/run dir (default: <repo>/target/vcsim, never committed)
#   ESXNET_VCSIM_MODEL        esx (default: one standalone ESXi host) or vpx (vCenter with hosts)
#   ESXNET_VCSIM_PORT         port on 127.0.0.1 (default 0: a free port)
#   ESXNET_VCSIM_MAX_SECONDS  the server stops by itself after this long (default 3600)
#   ESXNET_VCSIM_USERNAME / ESXNET_VCSIM_PASSWORD
#                             default user/pass, and then vcsim accepts any non-empty pair;
#                             set both to anything else and only that pair is accepted
#   ESXNET_VCSIM_START_TIMEOUT  seconds to wait for startup (default 60)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
build_dir=${ESXNET_VCSIM_DIR:-$repo/target/vcsim}
model=${ESXNET_VCSIM_MODEL:-esx}
port=${ESXNET_VCSIM_PORT:-0}
max_seconds=${ESXNET_VCSIM_MAX_SECONDS:-3600}
username=${ESXNET_VCSIM_USERNAME:-user}
password=${ESXNET_VCSIM_PASSWORD:-pass}
start_timeout=${ESXNET_VCSIM_START_TIMEOUT:-60}

govmomi_src=/usr/share/gocode/src/github.com/vmware/govmomi/simulator
bin=$build_dir/vcsim-esxnet
pid_file=$build_dir/vcsim.pid
url_file=$build_dir/vcsim.url
env_file=$build_dir/vcsim.env
log_file=$build_dir/vcsim.log
stdout_file=$build_dir/vcsim.stdout
cert_file=$build_dir/vcsim-cert.pem

die() {
    echo "vcsim.sh: error: $*" >&2
    exit 1
}

note() {
    echo "vcsim.sh: $*" >&2
}

have_toolchain() {
    command -v go >/dev/null 2>&1 && [[ -d $govmomi_src ]]
}

cmd_install() {
    if have_toolchain; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "go or the govmomi source is missing and apt-get is not available; install golang-go and golang-github-vmware-govmomi-dev"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install golang-go and golang-github-vmware-govmomi-dev"
        sudo=(sudo)
    fi
    note "installing golang-go and golang-github-vmware-govmomi-dev with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    local log
    log=$(mktemp)
    # The package lists may be missing or stale on a fresh machine: try the
    # install first, and update the lists once if it fails.
    if ! "${sudo[@]}" timeout 600 apt-get install -y -qq --no-install-recommends \
        golang-go golang-github-vmware-govmomi-dev >"$log" 2>&1; then
        if ! "${sudo[@]}" timeout 300 apt-get update -qq >>"$log" 2>&1 ||
            ! "${sudo[@]}" timeout 600 apt-get install -y -qq --no-install-recommends \
                golang-go golang-github-vmware-govmomi-dev >>"$log" 2>&1; then
            tail -n 20 "$log" >&2
            rm -f "$log"
            die "apt-get could not install golang-go golang-github-vmware-govmomi-dev"
        fi
    fi
    rm -f "$log"
    hash -r
    have_toolchain || die "installed the packages but go or $govmomi_src is still missing"
}

needs_build() {
    [[ ! -x $bin ]] || [[ $script_dir/main.go -nt $bin ]]
}

cmd_build() {
    cmd_install
    mkdir -p "$build_dir/gopath" "$build_dir/gocache"
    note "building $bin (about 20 s the first time)"
    # GOPATH mode: Debian ships govmomi and its dependencies under /usr/share/gocode.
    # The build happens in the build dir so nothing is written next to main.go.
    (
        cd "$build_dir"
        cp "$script_dir/main.go" "$build_dir/main.go"
        GOPATH="$build_dir/gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= \
            GOCACHE="$build_dir/gocache" timeout 600 go build -o "$bin.tmp" main.go
    ) || die "go build failed"
    mv -f "$bin.tmp" "$bin"
}

# Prints the pid of the server started by `start` if it is still running.
running_pid() {
    [[ -f $pid_file ]] || return 1
    local pid
    pid=$(cat "$pid_file" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: the process must be our binary.
    local exe want
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    want=$(readlink -f "$bin" 2>/dev/null || echo "$bin")
    [[ $exe == "$want" || $exe == "$want (deleted)" ]] || return 1
    echo "$pid"
}

port_answers() {
    local hostport=${1#https://}
    hostport=${hostport%%/*}
    local host=${hostport%:*} p=${hostport##*:}
    if command -v curl >/dev/null 2>&1; then
        # Any HTTP status means the TLS server answers; curl exits non-zero only
        # when it cannot connect or the handshake fails.
        curl -sk -o /dev/null --max-time 5 "$1"
    else
        timeout 5 bash -c "exec 3<>/dev/tcp/$host/$p" 2>/dev/null
    fi
}

print_env() {
    cat "$env_file"
}

cmd_start() {
    local pid
    if pid=$(running_pid); then
        note "already running (pid $pid); reusing it (use restart for a fresh model)"
        print_env
        return 0
    fi
    [[ $model == esx || $model == vpx ]] || die "ESXNET_VCSIM_MODEL must be esx or vpx, not '$model'"
    [[ $port =~ ^[0-9]+$ ]] || die "ESXNET_VCSIM_PORT must be a number"
    [[ $max_seconds =~ ^[0-9]+$ && $max_seconds -gt 0 ]] || die "ESXNET_VCSIM_MAX_SECONDS must be a positive number"
    [[ -n $username && -n $password ]] || die "ESXNET_VCSIM_USERNAME and ESXNET_VCSIM_PASSWORD must not be empty"
    if needs_build; then
        cmd_build
    fi
    # Remove the last run's output first: the child truncates it only once it
    # runs, and the loop below must never read a stale URL.
    rm -f "$pid_file" "$url_file" "$env_file" "$cert_file" "$stdout_file" "$log_file"
    local args=(-listen "127.0.0.1:$port" -max-seconds "$max_seconds" -cert-out "$cert_file")
    if [[ $model == vpx ]]; then
        args+=(-vpx)
    fi
    if [[ $username != user || $password != pass ]]; then
        args+=(-username "$username" -password "$password")
    fi
    # setsid: its own session, so it outlives this shell and CI steps; it stops
    # by itself after max_seconds in any case.
    # 9>&-: the child must not inherit the start lock.
    setsid "$bin" "${args[@]}" >"$stdout_file" 2>"$log_file" </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$pid_file"

    local deadline=$((SECONDS + start_timeout)) url=
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log_file" >&2 || true
            rm -f "$pid_file"
            die "vcsim exited during startup (log: $log_file)"
        fi
        url=$(grep -m1 '^https://.*/sdk$' "$stdout_file" 2>/dev/null || true)
        if [[ -n $url ]] && port_answers "$url"; then
            break
        fi
        if ((SECONDS >= deadline)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$pid_file"
            tail -n 20 "$log_file" >&2 || true
            die "vcsim did not answer within ${start_timeout}s (log: $log_file)"
        fi
        sleep 0.2
    done

    echo "$url" >"$url_file"
    {
        echo "ESXNET_VCSIM_URL=$url"
        echo "ESXNET_VCSIM_USERNAME=$username"
        echo "ESXNET_VCSIM_PASSWORD=$password"
        echo "ESXNET_VCSIM_CERT=$cert_file"
        echo "ESXNET_VCSIM_PID=$pid"
    } >"$env_file"
    note "started $model model (pid $pid), stops by itself after ${max_seconds}s"
    print_env
}

cmd_stop() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$pid_file"
        note "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            note "pid $pid did not stop within 10s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$pid_file" "$env_file"
    note "stopped (pid $pid)"
}

cmd_url() {
    running_pid >/dev/null || die "vcsim is not running (bash scripts/vcsim/vcsim.sh start)"
    cat "$url_file"
}

cmd_status() {
    if running_pid >/dev/null; then
        cat "$url_file"
    else
        echo "not running"
        return 1
    fi
}

cmd_env() {
    running_pid >/dev/null || die "vcsim is not running (bash scripts/vcsim/vcsim.sh start)"
    print_env
}

# Sends one SOAP request (body on stdin) with the session cookie in $1.
soap_post() {
    local jar=$1 url
    url=$(cat "$url_file")
    curl -sS --max-time 20 --cacert "$cert_file" -b "$jar" -c "$jar" \
        -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "urn:vim25/6.5"' \
        --data-binary @- "$url"
}

soap_envelope() {
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:vim25"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>\n' "$1"
}

# The text of the first element <$2 type="$3"> in $1.
moref() {
    grep -o "<$2 type=\"$3\">[^<]*</$2>" <<<"$1" | head -n 1 | sed 's/<[^>]*>//g'
}

# Checks the running server with raw SOAP: RetrieveServiceContent, Login, and
# the hosts' name and configManager.networkSystem through the PropertyCollector.
cmd_smoke() {
    running_pid >/dev/null || die "vcsim is not running (bash scripts/vcsim/vcsim.sh start)"
    command -v curl >/dev/null 2>&1 || die "smoke needs curl"
    local jar content pc root sm login hosts
    jar=$(mktemp)
    content=$(soap_envelope '<RetrieveServiceContent><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>' | soap_post "$jar")
    pc=$(moref "$content" propertyCollector PropertyCollector)
    root=$(moref "$content" rootFolder Folder)
    sm=$(moref "$content" sessionManager SessionManager)
    [[ -n $pc && -n $root && -n $sm ]] || { rm -f "$jar"; die "RetrieveServiceContent: unexpected answer: $content"; }
    echo "RetrieveServiceContent: ok (rootFolder $root, propertyCollector $pc, sessionManager $sm)"
    login=$(soap_envelope "<Login><_this type=\"SessionManager\">$sm</_this><userName>$username</userName><password>$password</password></Login>" | soap_post "$jar")
    grep -q '<LoginResponse' <<<"$login" || { rm -f "$jar"; die "Login as $username failed: $login"; }
    echo "Login: ok (user $username)"
    hosts=$(soap_envelope "<RetrievePropertiesEx><_this type=\"PropertyCollector\">$pc</_this><specSet><propSet><type>HostSystem</type><pathSet>name</pathSet><pathSet>configManager.networkSystem</pathSet></propSet><objectSet><obj type=\"Folder\">$root</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>folder</name><type>Folder</type><path>childEntity</path><skip>false</skip><selectSet><name>folder</name></selectSet><selectSet><name>dc</name></selectSet><selectSet><name>cr</name></selectSet></selectSet><selectSet xsi:type=\"TraversalSpec\"><name>dc</name><type>Datacenter</type><path>hostFolder</path><skip>false</skip><selectSet><name>folder</name></selectSet></selectSet><selectSet xsi:type=\"TraversalSpec\"><name>cr</name><type>ComputeResource</type><path>host</path><skip>false</skip></selectSet></objectSet></specSet><options/></RetrievePropertiesEx>" | soap_post "$jar")
    rm -f "$jar"
    grep -q '<obj type="HostSystem">' <<<"$hosts" || die "RetrievePropertiesEx found no HostSystem: $hosts"
    # One line per host: moid, name, HostNetworkSystem moid.
    sed 's/<objects>/\n/g' <<<"$hosts" | grep '<obj type="HostSystem">' | while IFS= read -r obj; do
        printf 'HostSystem %s name %s networkSystem %s\n' \
            "$(moref "$obj" obj HostSystem)" \
            "$(grep -o 'xsd:string">[^<]*<' <<<"$obj" | head -n 1 | sed 's/^xsd:string">//; s/<$//')" \
            "$(grep -o 'type="HostNetworkSystem">[^<]*<' <<<"$obj" | head -n 1 | sed 's/^type="HostNetworkSystem">//; s/<$//')"
    done
}

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}
    case $cmd in
    install) cmd_install ;;
    build) cmd_build ;;
    start)
        mkdir -p "$build_dir"
        # One start at a time per build dir, so two concurrent starts do not
        # leave two servers.
        exec 9>"$build_dir/.lock"
        flock -w "$start_timeout" 9 || die "another vcsim.sh start holds $build_dir/.lock"
        cmd_start
        ;;
    stop) cmd_stop ;;
    restart)
        cmd_stop
        bash "${BASH_SOURCE[0]}" start
        ;;
    url) cmd_url ;;
    status) cmd_status ;;
    env) cmd_env ;;
    smoke) cmd_smoke ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
