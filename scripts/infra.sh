#!/usr/bin/env bash
# Real single-node Kafka and Elasticsearch on this machine, without Docker, for the tests and
# for local runs.
#
#   scripts/infra.sh up     [kafka|elasticsearch|zipkin]   start (all three when no name is given, in parallel)
#   scripts/infra.sh down   [kafka|elasticsearch|zipkin]   stop, by pid (SIGTERM, then SIGKILL after 30 s)
#   scripts/infra.sh status [kafka|elasticsearch|zipkin]   exit 0 when every engine asked for is up, else 3
#
# Addresses (always 127.0.0.1, never localhost):
#   Kafka 4.4.0, KRaft combined broker+controller: broker 127.0.0.1:9092, controller 127.0.0.1:9093
#     -> KAFKA_BROKERS=127.0.0.1:9092
#   Elasticsearch 9.5.0, single node, security off:  http://127.0.0.1:9200 (transport 127.0.0.1:9300)
#     -> ELASTICSEARCH_URL=http://127.0.0.1:9200
#   Zipkin 3.5.1 server, in-memory storage:         http://127.0.0.1:9411
#     -> TRACING_EXPORTER=zipkin ZIPKIN_URL=http://127.0.0.1:9411
#
# Where things come from and go:
#   - Everything is fetched once from Maven Central with `mvn` (maven-dependency-plugin 3.6.1) into
#     a cache outside the repo: $INFRA_HOME, by default ${XDG_CACHE_HOME:-$HOME/.cache}/product-inventory/infra.
#     Kafka = the kafka_2.13 + kafka-tools jars and log4j-slf4j-impl (Kafka's poms carry no slf4j
#     binding); Elasticsearch = the runnable test distribution
#     org.elasticsearch.distribution.integ-test-zip:elasticsearch:<v>:zip (not every 9.x version of it
#     is on Central: 9.0.0, 9.2.0 and 9.5.0 are; 9.2.9, 9.3.0, 9.4.0 and 9.5.6 are not).
#     Maven also keeps its own copy of the downloads in ~/.m2 (as for any Maven build).
#     Zipkin = the server's executable jar io.zipkin:zipkin-server:<v>:jar:exec (about 131 MB).
#   - Kafka runs from $INFRA_HOME/run/kafka (config, data/, logs/kafka.log, kafka.pid) on the default
#     `java` (17+; $JAVA_HOME/bin/java when JAVA_HOME is set).
#   - Zipkin runs from $INFRA_HOME/run/zipkin (zipkin.pid, logs/zipkin.log) on the same `java` as
#     Kafka (17+), storage in memory (a restart forgets every trace; the newest 100 000 spans are
#     kept, INFRA_ZIPKIN_MAX_SPANS), heap 384 MB, exits on running out of memory; it joins a bare
#     `up` because starting it costs about 4 s next to Kafka and Elasticsearch, and the tracing suite
#     needs it in CI.
#   - Elasticsearch needs a JDK >= 21 (it ships none in this distribution): $ES_JAVA_HOME, else the
#     newest JDK >= 21 under /usr/lib/jvm (Temurin 25 on this machine kind). It refuses to run as root,
#     so as root it runs as the system user $INFRA_ES_USER (default elasticsearch-pi, created here with
#     useradd) from $INFRA_ES_RUN_DIR (default /tmp/product-inventory-infra-es; the cache under
#     /root is out of its reach): home/ (the distribution, hard-linked from the cache, read-only),
#     and config/, data/, logs/ (product-inventory.log), tmp/, elasticsearch.pid, which it owns.
#     As another user it runs as that user from the cache ($INFRA_HOME/run/elasticsearch).
#
# Choices:
#   - FRESH DATA ON EVERY `up`: each start wipes and recreates the data and log folders (Kafka is
#     formatted anew with a random cluster id). Tests get no stale topics, offsets or indices, and
#     there is no recovery step to go wrong. `up` on an engine that already runs does nothing, so
#     data lives until the next `down` + `up`.
#   - Single node: every internal topic has replication factor 1 and one partition, and the first
#     consumer-group join is not delayed (group.initial.rebalance.delay.ms=0); topics are
#     auto-created on first use (auto.create.topics.enable=true, 1 partition).
#   - Elasticsearch: discovery.type=single-node, xpack.security.enabled=false (plain HTTP, no
#     password), disk watermarks off, action.destructive_requires_name=false (so a test may
#     DELETE /audit-test-*), heap 512 MB and the JIT limited to C1 (-XX:TieredStopAtLevel=1: about
#     5 s faster to start on 2 cores; set INFRA_ES_JAVA_OPTS to change). Kafka heap: 512 MB..1 GB.
#   - The test distribution holds only the server, transport-netty4, x-pack core/security and apm:
#     CRUD, _bulk, _search, _count, aggregations, aliases, index templates and cluster health work;
#     `GET /` (client.info()/ping()), _delete_by_query, _update_by_query, _reindex, Painless scripts,
#     ingest pipelines, data streams/ILM and the analysis-common analyzers do NOT. Readiness is
#     GET /_cluster/health?wait_for_status=yellow. New indices get 1 replica by default, which a
#     single node never assigns: they stay yellow unless their template sets number_of_replicas: 0.
#   - Measured on this machine kind (2 cores, shared with other work, so loads of 2-6): first `up`
#     with an empty Maven repo 23-44 s (about 190 MB downloaded); later starts: Kafka 4-11 s,
#     Elasticsearch 9-18 s, both together 12-22 s; `up` when running: 0.05 s; `down`: about 2 s each.
#     Zipkin: fetching its 131 MB jar about 4 s, a start 2.4-3 s.
#   - The engines are detached from the calling shell (setsid, stdin from /dev/null, output to log
#     files), so CI can start them in one step and stop them with `down` in a later one.
#   - Stopping is by the pid in the pid file, and only after /proc/<pid>/cmdline shows it is the
#     engine this script started (never by process name).
#
# Environment (all optional):
#   INFRA_HOME              cache and Kafka run folder (see above)
#   INFRA_ES_RUN_DIR        Elasticsearch run folder when run as root (default /tmp/product-inventory-infra-es)
#   INFRA_ES_USER           system user that runs Elasticsearch when run as root (default elasticsearch-pi)
#   INFRA_KAFKA_VERSION     default 4.4.0 (with INFRA_LOG4J_VERSION, default 2.25.5, the log4j that kafka-server uses)
#   INFRA_ES_VERSION        default 9.5.0
#   INFRA_ZIPKIN_VERSION    default 3.5.1
#   INFRA_ZIPKIN_MAX_SPANS  spans Zipkin keeps in memory (default 100000)
#   ES_JAVA_HOME            JDK >= 21 for Elasticsearch
#   INFRA_KAFKA_JAVA_OPTS   default "-Xms512m -Xmx1g"
#   INFRA_ES_JAVA_OPTS      default "-Xms512m -Xmx512m -XX:TieredStopAtLevel=1" (passed as ES_JAVA_OPTS)
#   INFRA_START_TIMEOUT     seconds to wait for each engine to answer (default 180)
#   INFRA_STOP_TIMEOUT      seconds between SIGTERM and SIGKILL (default 30)
#   INFRA_MVN_ARGS          extra arguments for mvn, e.g. "-o" or "-Dmaven.repo.local=/path"
set -euo pipefail

prog=infra.sh
KAFKA_VERSION=${INFRA_KAFKA_VERSION:-4.4.0}
LOG4J_VERSION=${INFRA_LOG4J_VERSION:-2.25.5}
ES_VERSION=${INFRA_ES_VERSION:-9.5.0}
ZIPKIN_VERSION=${INFRA_ZIPKIN_VERSION:-3.5.1}
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1

if [ -z "${INFRA_HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ] && [ -z "${HOME:-}" ]; then
  echo "infra.sh: error: set INFRA_HOME (or HOME) to a folder for the downloads" >&2
  exit 1
fi
INFRA_HOME=${INFRA_HOME:-${XDG_CACHE_HOME:-${HOME:-}/.cache}/product-inventory/infra}
START_TIMEOUT=${INFRA_START_TIMEOUT:-180}
STOP_TIMEOUT=${INFRA_STOP_TIMEOUT:-30}
KAFKA_JAVA_OPTS=${INFRA_KAFKA_JAVA_OPTS:--Xms512m -Xmx1g}
ES_OPTS=${INFRA_ES_JAVA_OPTS:--Xms512m -Xmx512m -XX:TieredStopAtLevel=1}
read -r -a MVN_EXTRA <<<"${INFRA_MVN_ARGS:-}"

HOST=127.0.0.1
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
ES_PORT=9200
ES_TRANSPORT_PORT=9300
ZIPKIN_PORT=9411
# The in-memory store forgets the oldest spans beyond this (Zipkin's default, 500 000, does not
# fit the heap: a benchmark with tracing on ran it out of memory).
ZIPKIN_MAX_SPANS=${INFRA_ZIPKIN_MAX_SPANS:-100000}

KAFKA_DIST=$INFRA_HOME/dist/kafka-$KAFKA_VERSION
KAFKA_RUN=$INFRA_HOME/run/kafka
KAFKA_PID=$KAFKA_RUN/kafka.pid
ES_DIST=$INFRA_HOME/dist/elasticsearch-$ES_VERSION
ZIPKIN_JAR=$INFRA_HOME/dist/zipkin-server-$ZIPKIN_VERSION-exec.jar
ZIPKIN_RUN=$INFRA_HOME/run/zipkin
ZIPKIN_PID=$ZIPKIN_RUN/zipkin.pid

if [ "$(id -u)" -eq 0 ]; then
  ES_AS_ROOT=1
  ES_USER=${INFRA_ES_USER:-elasticsearch-pi}
  ES_RUN=${INFRA_ES_RUN_DIR:-/tmp/product-inventory-infra-es}
  ES_HOME=$ES_RUN/home
else
  ES_AS_ROOT=0
  ES_USER=$(id -un)
  ES_RUN=${INFRA_ES_RUN_DIR:-$INFRA_HOME/run/elasticsearch}
  ES_HOME=$ES_DIST
fi
ES_RUN=$(realpath -m -- "$ES_RUN")
[ "$ES_AS_ROOT" -eq 1 ] && ES_HOME=$ES_RUN/home || ES_HOME=$(realpath -m -- "$ES_HOME")
ES_PID=$ES_RUN/elasticsearch.pid

say() { printf '%s\n' "$*"; }
err() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { err "error: $*"; exit 1; }
usage() {
  err "usage: scripts/infra.sh up|down|status [kafka|elasticsearch|zipkin]"
  exit 2
}

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# Waits for an engine just launched with its pid file: until `ready` succeeds; fails with the
# last lines of its log when the process exits or START_TIMEOUT passes.
#   await_ready <name> <pid file> <pid function> <ready function> <log>
await_ready() {
  local name=$1 pid_file=$2 pid_of=$3 ready=$4 log=$5 deadline=$((SECONDS + START_TIMEOUT)) i
  for i in $(seq 50); do [ -s "$pid_file" ] && break; sleep 0.1; done
  until "$ready"; do
    # Gone twice, half a second apart: not a pid file being rewritten.
    if ! "$pid_of" >/dev/null && ! { sleep 0.5; "$pid_of" >/dev/null; }; then
      err "$name: the process exited during start-up; last lines of $log:"
      tail -n 20 "$log" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      err "$name: not ready after ${START_TIMEOUT}s; last lines of $log:"
      tail -n 20 "$log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

# Prints the pid in file $1 when that process is alive and its command line contains $2.
live_pid() {
  local file=$1 marker=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker" || return 1
  printf '%s' "$pid"
}
kafka_marker() { printf '%s' "$KAFKA_RUN/server.properties"; }
es_marker() { printf '%s' "-Des.path.home=$ES_HOME"; }
zipkin_marker() { printf '%s' "$ZIPKIN_JAR"; }
kafka_pid() { live_pid "$KAFKA_PID" "$(kafka_marker)"; }
zipkin_pid() { live_pid "$ZIPKIN_PID" "$(zipkin_marker)"; }
es_pid() { live_pid "$ES_PID" "$(es_marker)"; }

java_major() { # java_major <java binary>
  "$1" -XshowSettings:properties -version 2>&1 |
    awk -F'= ' '/java.specification.version/ { split($2, v, "."); print (v[1] == 1 ? v[2] : v[1]); exit }'
}

kafka_java() {
  local java=java
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then java=$JAVA_HOME/bin/java; fi
  command -v "$java" >/dev/null 2>&1 || die "no java found for Kafka (install a JDK >= 17 or set JAVA_HOME)"
  local major
  major=$(java_major "$java")
  [ "${major:-0}" -ge 17 ] || die "Kafka $KAFKA_VERSION needs Java >= 17, $java is Java ${major:-unknown} (set JAVA_HOME)"
  printf '%s' "$java"
}

es_java_home() {
  if [ -n "${ES_JAVA_HOME:-}" ]; then
    [ -x "$ES_JAVA_HOME/bin/java" ] || die "ES_JAVA_HOME=$ES_JAVA_HOME has no bin/java"
    local v
    v=$(java_major "$ES_JAVA_HOME/bin/java")
    [ "${v:-0}" -ge 21 ] || die "Elasticsearch $ES_VERSION needs Java >= 21, ES_JAVA_HOME=$ES_JAVA_HOME is Java ${v:-unknown}"
    printf '%s' "$ES_JAVA_HOME"
    return
  fi
  local best="" best_major=0 d major
  for d in /usr/lib/jvm/*/; do
    d=${d%/}
    [ -L "$d" ] && continue
    if [ ! -x "$d/bin/java" ] || [ ! -f "$d/release" ]; then continue; fi
    major=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$d/release")
    if [ "${major:-0}" -ge 21 ] && [ "$major" -gt "$best_major" ]; then best=$d best_major=$major; fi
  done
  [ -n "$best" ] || die "Elasticsearch $ES_VERSION needs a JDK >= 21: none under /usr/lib/jvm, set ES_JAVA_HOME"
  printf '%s' "$best"
}

need_cmd() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed"; }

ensure_curl() {
  command -v curl >/dev/null 2>&1 && return
  [ "$(id -u)" -eq 0 ] || die "curl is required (apt-get install curl)"
  err "installing curl with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl; } >/dev/null 2>&1 ||
    die "could not install curl with apt-get"
}

# Runs mvn with the downloads serialised (two mvn processes writing ~/.m2 at once can clash).
mvn_locked() { # mvn_locked <log file> <mvn args...>
  local log=$1
  shift
  need_cmd mvn
  if ! flock -w 1800 "$INFRA_HOME/.mvn.lock" mvn -B -q "${MVN_EXTRA[@]}" "$@" >"$log" 2>&1 9>&-; then
    return 1
  fi
}

ensure_kafka_dist() {
  [ -f "$KAFKA_DIST/.complete" ] && return
  say "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_DIST"
  local t0 tmp
  t0=$(now)
  mkdir -p "$INFRA_HOME/dist" "$INFRA_HOME/logs"
  tmp=$(mktemp -d "$INFRA_HOME/dist/.kafka-$KAFKA_VERSION.XXXXXX")
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.product-inventory.infra</groupId>
  <artifactId>kafka-dist</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <!-- TopicCommand, console producer/consumer, BrokerApiVersionsCommand; Connect is not needed -->
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <!-- Kafka logs through slf4j 1.7 and ships no binding in its poms -->
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  if ! mvn_locked "$INFRA_HOME/logs/mvn-kafka.log" -f "$tmp/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$tmp/libs"; then
    rm -rf "$tmp"
    die "Maven could not fetch Kafka $KAFKA_VERSION (see $INFRA_HOME/logs/mvn-kafka.log)"
  fi
  [ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "Kafka jars missing after mvn"; }
  touch "$tmp/.complete"
  rm -rf "$KAFKA_DIST"
  mv "$tmp" "$KAFKA_DIST"
  say "kafka: fetched $(find "$KAFKA_DIST/libs" -name '*.jar' | wc -l) jars in $(since "$t0")s (downloads run one at a time)"
}

ensure_es_dist() {
  [ -f "$ES_DIST/.complete" ] && return
  say "elasticsearch: fetching Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central into $ES_DIST"
  local t0 tmp zip
  t0=$(now)
  mkdir -p "$INFRA_HOME/dist" "$INFRA_HOME/logs"
  tmp=$(mktemp -d "$INFRA_HOME/dist/.elasticsearch-$ES_VERSION.XXXXXX")
  # run from the empty temp dir so that no project pom.xml is picked up
  if ! (cd "$tmp" && mvn_locked "$INFRA_HOME/logs/mvn-elasticsearch.log" "$DEP_PLUGIN:copy" \
    -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
    -DoutputDirectory="$tmp"); then
    rm -rf "$tmp"
    die "Maven could not fetch Elasticsearch $ES_VERSION (see $INFRA_HOME/logs/mvn-elasticsearch.log)"
  fi
  zip=$tmp/elasticsearch-$ES_VERSION.zip
  [ -f "$zip" ] || { rm -rf "$tmp"; die "Elasticsearch zip missing after mvn"; }
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "$zip" -d "$tmp/x"
  else # the JDK's jar tool unpacks zips too (without the exec bits, restored below)
    mkdir -p "$tmp/x"
    (cd "$tmp/x" && "$(es_java_home)/bin/jar" xf "$zip")
  fi
  [ -x "$tmp/x/elasticsearch-$ES_VERSION/bin/elasticsearch" ] || chmod -R a+x "$tmp/x/elasticsearch-$ES_VERSION/bin"
  rm -rf "$ES_DIST"
  mv "$tmp/x/elasticsearch-$ES_VERSION" "$ES_DIST"
  rm -rf "$tmp"
  touch "$ES_DIST/.complete"
  say "elasticsearch: fetched and unpacked in $(since "$t0")s (downloads run one at a time)"
}

# ---------------------------------------------------------------------------------------------
# Kafka

kafka_write_config() {
  cat >"$KAFKA_RUN/server.properties" <<EOF
# written by scripts/infra.sh: single-node KRaft (combined broker + controller) for tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_RUN/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$KAFKA_RUN/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
EOF
  cat >"$KAFKA_RUN/tools-log4j2.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

# A client-level check: ApiVersions + metadata through Kafka's own admin client.
# Started (its log says so), listening, and answering a client (uses the caller's $log and $java).
kafka_ready() { grep -q 'Kafka Server started' "$log" 2>/dev/null && port_open "$KAFKA_PORT" && kafka_client_check "$java"; }

kafka_client_check() { # kafka_client_check <java>
  timeout 60 "$1" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_RUN/tools-log4j2.properties" \
    -cp "$KAFKA_DIST/libs/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$HOST:$KAFKA_PORT" >"$KAFKA_RUN/logs/client-check.log" 2>&1 </dev/null
}

# Whether an engine must be started: no (status 1) when its pid answers on its first
# port. A pid that does not answer is a start that did not finish: it is stopped so the
# start begins from scratch. Ports held by a process this script did not start are an error.
# usage: needs_start NAME PID_FUNCTION PID_FILE PORT...
needs_start() {
  local name=$1 pid_of=$2 pid_file=$3 pid p
  shift 3
  if pid=$($pid_of) && port_open "$1"; then
    say "$name: already running (pid $pid) on $HOST:$1"
    return 1
  fi
  if pid=$($pid_of); then
    err "$name: pid $pid does not answer on $HOST:$1, restarting it"
    stop_pid "$name" "$pid"
  fi
  rm -f "$pid_file"
  for p in "$@"; do
    port_open "$p" && die "$name: $HOST:$p is already in use by a process this script did not start (see: ss -ltnp 'sport = :$p')"
  done
  return 0
}

kafka_up() {
  needs_start kafka kafka_pid "$KAFKA_PID" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" || return 0
  local java
  java=$(kafka_java)
  ensure_kafka_dist

  local t0
  t0=$(now)
  mkdir -p "$KAFKA_RUN"
  rm -rf "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  kafka_write_config

  # Fresh storage with a random cluster id (16 random bytes, base64url, no leading '-').
  local cluster_id
  cluster_id=A$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c2-22)
  if ! "$java" -Xmx256m -Dlog4j2.configurationFile="$KAFKA_RUN/tools-log4j2.properties" \
    -cp "$KAFKA_DIST/libs/*" kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$KAFKA_RUN/server.properties" --ignore-formatted >"$KAFKA_RUN/logs/format.log" 2>&1 </dev/null; then
    die "kafka: formatting the storage failed (see $KAFKA_RUN/logs/format.log)"
  fi

  local log=$KAFKA_RUN/logs/kafka.log
  # The inner bash records its own pid, then becomes java; KAFKA_JAVA_OPTS is a list of options.
  # shellcheck disable=SC2016,SC2086
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID" \
    "$java" $KAFKA_JAVA_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_RUN/log4j2.properties" -Dkafka.logs.dir="$KAFKA_RUN/logs" \
    -cp "$KAFKA_DIST/libs/*" kafka.Kafka "$KAFKA_RUN/server.properties" \
    </dev/null >"$log" 2>&1 9>&- &

  # (kafka_ready reads this function's $log and $java.)
  await_ready kafka "$KAFKA_PID" kafka_pid kafka_ready "$log"
  say "kafka: Kafka $KAFKA_VERSION ready on $HOST:$KAFKA_PORT in $(since "$t0")s (pid $(kafka_pid), log $log)"
}

# ---------------------------------------------------------------------------------------------
# Elasticsearch

es_health() {
  curl -fsS --max-time 5 "http://$HOST:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1
}

es_prepare_user_and_dirs() {
  if [ "$ES_AS_ROOT" -eq 1 ]; then
    need_cmd runuser
    if ! id -u "$ES_USER" >/dev/null 2>&1; then
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$ES_USER" >/dev/null 2>&1 ||
        id -u "$ES_USER" >/dev/null 2>&1 || die "could not create the system user $ES_USER"
    fi
    mkdir -p "$ES_RUN"
    chown "$ES_USER:" "$ES_RUN"
    chmod 755 "$ES_RUN"
    # The user cannot reach the cache (usually under /root): give it the distribution at a path it
    # can read. Hard links when on the same file system (no extra disk), else a copy. It stays
    # owned by root and read-only for the user; the config it may write is copied below.
    if [ "$(cat "$ES_HOME/.version" 2>/dev/null || true)" != "$ES_VERSION" ]; then
      rm -rf "$ES_HOME" "$ES_HOME.tmp"
      cp -al "$ES_DIST" "$ES_HOME.tmp" 2>/dev/null || { rm -rf "$ES_HOME.tmp"; cp -a "$ES_DIST" "$ES_HOME.tmp"; }
      echo "$ES_VERSION" >"$ES_HOME.tmp/.version"
      chmod -R a+rX "$ES_HOME.tmp"
      mv "$ES_HOME.tmp" "$ES_HOME"
    fi
  else
    mkdir -p "$ES_RUN"
  fi
  rm -rf "$ES_RUN/config" "$ES_RUN/data" "$ES_RUN/logs" "$ES_RUN/tmp"
  cp -a "$ES_DIST/config" "$ES_RUN/config"
  mkdir -p "$ES_RUN/data" "$ES_RUN/logs" "$ES_RUN/tmp"
  cat >"$ES_RUN/config/elasticsearch.yml" <<EOF
# written by scripts/infra.sh: single node for tests
cluster.name: product-inventory
node.name: node-1
discovery.type: single-node
network.host: $HOST
http.port: $ES_PORT
transport.port: $ES_TRANSPORT_PORT
path.data: $ES_RUN/data
path.logs: $ES_RUN/logs
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
EOF
  if [ "$ES_AS_ROOT" -eq 1 ]; then
    chown -R "$ES_USER:" "$ES_RUN/config" "$ES_RUN/data" "$ES_RUN/logs" "$ES_RUN/tmp"
  fi
}

es_up() {
  ensure_curl
  needs_start elasticsearch es_pid "$ES_PID" "$ES_PORT" "$ES_TRANSPORT_PORT" || return 0
  local java_home
  java_home=$(es_java_home)
  ensure_es_dist

  local t0
  t0=$(now)
  es_prepare_user_and_dirs
  local log=$ES_RUN/logs/product-inventory.log launcher_log=$ES_RUN/logs/launcher.log
  # -d: the launcher starts the server JVM, waits until it is up, then exits; -p: the server's pid.
  local -a launch=(env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$ES_RUN/config" ES_TMPDIR="$ES_RUN/tmp"
    ES_JAVA_OPTS="$ES_OPTS" "$ES_HOME/bin/elasticsearch" -d -p "$ES_PID")
  if [ "$ES_AS_ROOT" -eq 1 ]; then launch=(runuser -u "$ES_USER" -- "${launch[@]}"); fi
  (cd "$ES_RUN" && exec setsid -w "${launch[@]}" </dev/null >"$launcher_log" 2>&1 9>&-) &
  local launcher=$! launcher_rc=""

  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if es_health; then break; fi
    if [ -z "$launcher_rc" ] && ! kill -0 "$launcher" 2>/dev/null; then
      launcher_rc=0
      wait "$launcher" || launcher_rc=$?
      if [ "$launcher_rc" -ne 0 ]; then
        err "elasticsearch: the launcher failed (exit $launcher_rc); last lines of $launcher_log and $log:"
        tail -n 20 "$launcher_log" >&2 || true
        tail -n 20 "$log" >&2 2>/dev/null || true
        exit 1
      fi
    fi
    if [ -n "$launcher_rc" ] && ! es_pid >/dev/null; then
      err "elasticsearch: the server exited during start-up; last lines of $log:"
      tail -n 20 "$log" >&2 2>/dev/null || tail -n 20 "$launcher_log" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      err "elasticsearch: not ready after ${START_TIMEOUT}s; last lines of $log:"
      tail -n 20 "$log" >&2 2>/dev/null || tail -n 20 "$launcher_log" >&2 || true
      exit 1
    fi
    sleep 0.25
  done
  # Wait for the launcher to exit so that nothing of ours is left attached to this shell.
  [ -n "$launcher_rc" ] || wait "$launcher" || true
  es_pid >/dev/null || die "elasticsearch answers on $HOST:$ES_PORT but its pid file $ES_PID is missing"
  say "elasticsearch: Elasticsearch $ES_VERSION ready on http://$HOST:$ES_PORT in $(since "$t0")s (pid $(es_pid), log $log)"
}

# ---------------------------------------------------------------------------------------------
# Zipkin

ensure_zipkin_jar() {
  [ -f "$ZIPKIN_JAR" ] && return
  say "zipkin: fetching zipkin-server $ZIPKIN_VERSION (exec jar) from Maven Central into $INFRA_HOME/dist"
  local t0 tmp
  t0=$(now)
  mkdir -p "$INFRA_HOME/dist" "$INFRA_HOME/logs"
  tmp=$(mktemp -d "$INFRA_HOME/dist/.zipkin-$ZIPKIN_VERSION.XXXXXX")
  # run from the empty temp dir so that no project pom.xml is picked up
  if ! (cd "$tmp" && mvn_locked "$INFRA_HOME/logs/mvn-zipkin.log" "$DEP_PLUGIN:copy" \
    -Dartifact="io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" -DoutputDirectory="$tmp"); then
    rm -rf "$tmp"
    die "Maven could not fetch zipkin-server $ZIPKIN_VERSION (see $INFRA_HOME/logs/mvn-zipkin.log)"
  fi
  [ -f "$tmp/zipkin-server-$ZIPKIN_VERSION-exec.jar" ] || { rm -rf "$tmp"; die "Zipkin jar missing after mvn"; }
  mv "$tmp/zipkin-server-$ZIPKIN_VERSION-exec.jar" "$ZIPKIN_JAR"
  rm -rf "$tmp"
  say "zipkin: fetched in $(since "$t0")s (downloads run one at a time)"
}

zipkin_health() { curl -fsS --max-time 5 "http://$HOST:$ZIPKIN_PORT/health" >/dev/null 2>&1; }

zipkin_up() {
  ensure_curl
  needs_start zipkin zipkin_pid "$ZIPKIN_PID" "$ZIPKIN_PORT" || return 0
  local java
  java=$(kafka_java)
  ensure_zipkin_jar

  local t0
  t0=$(now)
  rm -rf "$ZIPKIN_RUN/logs"
  mkdir -p "$ZIPKIN_RUN/logs"
  local log=$ZIPKIN_RUN/logs/zipkin.log
  # Armeria listens where its port list says (Spring's --server.address is ignored): 127.0.0.1 only.
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$ZIPKIN_PID" \
    "$java" -Xms128m -Xmx384m -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -jar "$ZIPKIN_JAR" \
    "--armeria.ports[0].port=$ZIPKIN_PORT" "--armeria.ports[0].ip=$HOST" "--armeria.ports[0].protocols=http" \
    "--zipkin.storage.mem.max-spans=$ZIPKIN_MAX_SPANS" \
    </dev/null >"$log" 2>&1 9>&- &

  await_ready zipkin "$ZIPKIN_PID" zipkin_pid zipkin_health "$log"
  say "zipkin: Zipkin $ZIPKIN_VERSION ready on http://$HOST:$ZIPKIN_PORT in $(since "$t0")s (pid $(zipkin_pid), log $log)"
}

# ---------------------------------------------------------------------------------------------
# stop / status

stop_pid() { # stop_pid <name> <pid>
  local name=$1 pid=$2 t0 deadline
  t0=$(now)
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    err "$name: pid $pid still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && die "$name: pid $pid survived SIGKILL"
  fi
  say "$name: stopped (pid $pid) in $(since "$t0")s"
}

engine_down() {
  local name=$1 pid pidfile
  case $name in
    kafka) pidfile=$KAFKA_PID; pid=$(kafka_pid) || pid="" ;;
    elasticsearch) pidfile=$ES_PID; pid=$(es_pid) || pid="" ;;
    zipkin) pidfile=$ZIPKIN_PID; pid=$(zipkin_pid) || pid="" ;;
  esac
  if [ -n "$pid" ]; then
    stop_pid "$name" "$pid"
  else
    say "$name: not running"
  fi
  rm -f "$pidfile"
}

engine_status() { # returns 0 when up
  local name=$1 pid port addr
  case $name in
    kafka) pid=$(kafka_pid) || pid=""; port=$KAFKA_PORT; addr="$HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)" ;;
    elasticsearch) pid=$(es_pid) || pid=""; port=$ES_PORT; addr="http://$HOST:$ES_PORT" ;;
    zipkin) pid=$(zipkin_pid) || pid=""; port=$ZIPKIN_PORT; addr="http://$HOST:$ZIPKIN_PORT" ;;
  esac
  if [ -z "$pid" ]; then
    if port_open "$port"; then
      say "$name: stopped (but $HOST:$port is in use by a process this script did not start)"
    else
      say "$name: stopped"
    fi
    return 1
  fi
  if port_open "$port"; then
    say "$name: running, pid $pid, $addr"
    return 0
  fi
  say "$name: starting or hung, pid $pid, $addr not answering"
  return 1
}

# ---------------------------------------------------------------------------------------------

main() {
  if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
  local cmd=$1 engines
  case ${2:-all} in
    all) engines=(kafka elasticsearch zipkin) ;;
    kafka) engines=(kafka) ;;
    elasticsearch | es) engines=(elasticsearch) ;;
    zipkin) engines=(zipkin) ;;
    *) err "unknown engine: $2"; usage ;;
  esac

  case $cmd in
    status)
      local rc=0 e
      for e in "${engines[@]}"; do engine_status "$e" || rc=3; done
      exit "$rc"
      ;;
    up | down) ;;
    *) err "unknown command: $cmd"; usage ;;
  esac

  need_cmd flock
  need_cmd setsid
  need_cmd timeout
  mkdir -p "$INFRA_HOME" || die "cannot create $INFRA_HOME"
  # One `up`/`down` at a time (e.g. two test runs starting together).
  exec 9>"$INFRA_HOME/.lock"
  flock -w $((START_TIMEOUT * 2 + 1800)) 9 || die "another scripts/infra.sh up/down holds $INFRA_HOME/.lock"

  if [ "$cmd" = down ]; then
    local e
    for e in "${engines[@]}"; do engine_down "$e"; done
    exit 0
  fi

  # up: start the asked-for engines in parallel (downloads are serialised by mvn_locked).
  local t0 e pids=() rc=0 i
  t0=$(now)
  for e in "${engines[@]}"; do
    case $e in
      kafka) kafka_up & ;;
      elasticsearch) es_up & ;;
      zipkin) zipkin_up & ;;
    esac
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { rc=1; err "${engines[$i]}: failed to start"; }
  done
  [ "$rc" -eq 0 ] || exit 1
  [ ${#engines[@]} -gt 1 ] && say "all up in $(since "$t0")s: KAFKA_BROKERS=$HOST:$KAFKA_PORT ELASTICSEARCH_URL=http://$HOST:$ES_PORT ZIPKIN_URL=http://$HOST:$ZIPKIN_PORT"
  exit 0
}

main "$@"
