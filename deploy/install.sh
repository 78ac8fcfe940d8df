#!/bin/sh
# Installs the Oversight server as the systemd service deploy/oversight.service, run as root from
# the repository after `cargo build --release`:
#
#   sh deploy/install.sh tls.crt tls.key     # the server's certificate chain and key (PEM)
#
# It creates the system user `oversight` (no login, home /var/lib/oversight) unless it exists,
# installs the binary, the unit, deploy/oversight.toml as /etc/oversight/oversight.toml and the
# certificate and key under /etc/oversight/tls/ (root-owned, readable by the oversight group:
# the service reads them, never writes them), creates the data directory /var/lib/oversight
# (oversight's, 0700), then enables and starts the unit. It keeps an existing configuration
# file. Edit /etc/oversight/oversight.toml first if the server needs other settings
# (docs/OPERATIONS.md); `journalctl -u oversight` shows its log.
#
# For a staged installation (packaging, the test of this recipe): DESTDIR installs the files
# under that directory and does not touch systemd; OVERSIGHT_USER names another user (the
# unit's User= and Group= must then name it too); OVERSIGHT_BINARY names another built binary.
set -eu

cert=${1:?usage: sh deploy/install.sh TLS_CERT TLS_KEY}
key=${2:?usage: sh deploy/install.sh TLS_CERT TLS_KEY}
destdir=${DESTDIR:-}
user=${OVERSIGHT_USER:-oversight}
binary=${OVERSIGHT_BINARY:-target/release/oversight}
deploy=$(dirname "$0")

if ! getent passwd "$user" >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/oversight --no-create-home \
        --shell /usr/sbin/nologin "$user"
fi

install -D -m 0755 "$binary" "$destdir/usr/local/bin/oversight"
install -D -m 0644 "$deploy/oversight.service" "$destdir/etc/systemd/system/oversight.service"
if [ ! -e "$destdir/etc/oversight/oversight.toml" ]; then
    install -D -m 0640 -o root -g "$user" "$deploy/oversight.toml" \
        "$destdir/etc/oversight/oversight.toml"
fi
install -d -m 0750 -o root -g "$user" "$destdir/etc/oversight" "$destdir/etc/oversight/tls"
install -m 0640 -o root -g "$user" "$cert" "$destdir/etc/oversight/tls/tls.crt"
install -m 0640 -o root -g "$user" "$key" "$destdir/etc/oversight/tls/tls.key"
install -d -m 0700 -o "$user" -g "$user" "$destdir/var/lib/oversight"

if [ -z "$destdir" ]; then
    systemctl daemon-reload
    systemctl enable --now oversight
fi
