#!/bin/bash
# stayup: runs the service's container under systemd on Amazon Linux 2023.
# Generated from the stack's config; a change here rolls the fleet.
set -euo pipefail

# The runtime comes from the distribution's own repository: nothing is
# downloaded from a third party at boot. A few tries ride out a NAT gateway
# or repository mirror that is not answering yet.
for attempt in 1 2 3 4 5; do
  if dnf install --assumeyes --quiet docker; then
    break
  fi
  if [ "${attempt}" -eq 5 ]; then
    echo "stayup: could not install docker" >&2
    exit 1
  fi
  sleep $((attempt * 10))
done
systemctl enable --now docker.service

# IMDSv2 answers only with a session token, and its hop limit of 1 keeps it
# out of the container's reach: the instance reads its zone here and hands
# it to the container.
imds() {
  local token
  token=$(curl --fail --silent --show-error --request PUT \
    --header 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
    http://169.254.169.254/latest/api/token)
  curl --fail --silent --show-error \
    --header "X-aws-ec2-metadata-token: ${token}" \
    "http://169.254.169.254/latest/meta-data/$1"
}
zone=$(imds placement/availability-zone)
instance_id=$(imds instance-id)

install --directory --mode 0755 /etc/stayup
cat > /etc/stayup/env <<ENV
ZONE=${zone}
INSTANCE_ID=${instance_id}
ENV

# The image lives in ECR: log in with the instance role before each pull.
cat > /usr/local/bin/stayup-login <<'LOGIN'
#!/bin/bash
set -euo pipefail
aws ecr get-login-password --region eu-west-1 |
  docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com
LOGIN
chmod 0755 /usr/local/bin/stayup-login

# systemd restarts the container whenever it exits. Stopping waits for the
# app to drain: docker gives it 40 s after SIGTERM, and systemd
# gives docker 60 s, so nothing is killed mid-request.
# Logs go to CloudWatch Logs without holding the app up: in non-blocking
# mode the container starts and serves while the Logs endpoint or the
# instance's credentials are not answering yet. Meanwhile its lines wait
# in dockerd's memory, up to 4 MiB (docker's default is 1 MiB): some 20,000
# lines of 200 bytes, a quarter of an hour of an app that logs each of 20
# requests a second; past that, lines are dropped, never requests. The
# log group exists before any instance boots: with a missing group,
# non-blocking mode can hang the container's exit (moby/moby#53143).
cat > /etc/systemd/system/stayup.service <<'UNIT'
[Unit]
Description=stayup service container
# Restart for ever: a crash loop must not leave the unit dead for good.
StartLimitIntervalSec=0
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=/etc/stayup/env
ExecStartPre=-/usr/local/bin/stayup-login
ExecStartPre=-/usr/bin/docker rm --force stayup
# A failed pull (a registry outage) falls back to the image already here.
ExecStartPre=-/usr/bin/docker pull 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2
ExecStart=/usr/bin/docker run --name stayup --rm \
  --publish 8080:8080 \
  --env PORT=8080 --env ZONE=${ZONE} --env INSTANCE_ID=${INSTANCE_ID} \
  --security-opt no-new-privileges \
  --stop-timeout 40 \
  --log-driver awslogs \
  --log-opt awslogs-region=eu-west-1 \
  --log-opt awslogs-group=/stayup/example/app \
  --log-opt awslogs-stream=${INSTANCE_ID} \
  --log-opt mode=non-blocking \
  --log-opt max-buffer-size=4m \
  123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2
ExecStop=/usr/bin/docker stop --time 40 stayup
TimeoutStartSec=300
TimeoutStopSec=60
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now stayup.service
