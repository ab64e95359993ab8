#!/usr/bin/env bash
# Makes sure the database servers and the Redis the tests use answer on loopback:
# PostgreSQL 127.0.0.1:5432 (user postgres, no password), MariaDB 127.0.0.1:3306 (root,
# no password), Redis 127.0.0.1:6379. A server that already answers is left alone. One
# that does not is installed from Debian when missing and started; a server this script
# installed is opened to those test users on loopback only. Called by scripts/test.sh.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

answers() {  # host port: a TCP connect succeeds
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() {  # port: up to 30 s
  for _ in $(seq 60); do answers 127.0.0.1 "$1" && return 0; sleep 0.5; done
  echo "scripts/test_services.sh: nothing answers on 127.0.0.1:$1" >&2
  return 1
}

if ! answers 127.0.0.1 5432; then
  fresh=no
  command -v pg_ctlcluster >/dev/null || { install postgresql; fresh=yes; }
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "$fresh" = yes ]; then
    hba=/etc/postgresql/$version/main/pg_hba.conf
    $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  fi
  $SUDO pg_ctlcluster "$version" main start || $SUDO service postgresql start
  wait_for 5432
fi

if ! answers 127.0.0.1 3306; then
  fresh=no
  command -v mariadbd >/dev/null || command -v mysqld >/dev/null \
    || { install mariadb-server; fresh=yes; }
  $SUDO service mariadb start || $SUDO service mysql start
  wait_for 3306
  if [ "$fresh" = yes ]; then
    $SUDO mariadb -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
  fi
fi

if ! answers 127.0.0.1 6379; then
  command -v redis-server >/dev/null || install redis-server
  # Nothing to keep: the tests' Redis holds no data worth saving.
  $SUDO redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
  wait_for 6379
fi
