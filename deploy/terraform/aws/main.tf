# icsrange "aws" module: every team's PLCs as `icsrange plc` processes on
# EC2 instances, teams_per_instance teams to an instance.
#
# Network: by default a VPC (vpc_cidr) with one public subnet, made and
# destroyed with the exercise, so nothing else lives next to the PLCs; give
# subnet_id to use an existing subnet instead (e.g. one trainees reach over
# a VPN; it then needs a route to binary_url, through a NAT or a gateway).
#
# Each instance downloads the static icsrange binary from binary_url,
# checks it against binary_sha256 and runs one systemd service per PLC
# (no Docker, no packages to install: the binary is all a PLC needs). The
# port layout is fixed per instance: the n-th PLC (0-based; the instance's
# teams in order, each team's PLCs in var.plcs order) serves Modbus on
# modbus_port_base + n and its management API on mgmt_port_base + n.
# var.ports is ignored, which the contract allows.
#
# One security group: Modbus from trainee_cidrs (and engine_cidr: the
# engine checks readiness and plays host traffic over Modbus), the
# management API only from engine_cidr, outbound HTTPS only (the download).
#
# Module contract: see docs/terraform.md. Inputs every icsrange module takes
# are in variables.tf; outputs in outputs.tf.

terraform {
  required_version = ">= 1.4"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "icsrange:exercise" = var.exercise_id
    })
  }
}

locals {
  name       = "icsrange-${var.exercise_id}"
  create_vpc = var.subnet_id == null

  # Teams in instance-sized groups: groups[i] are the teams on instance i.
  groups       = chunklist(var.teams, var.teams_per_instance)
  per_instance = min(length(var.teams), var.teams_per_instance) * length(var.plcs)

  # One slot per team per PLC: which instance, which ports.
  slots = flatten([
    for g, teams in local.groups : [
      for t, team in teams : [
        for p, plc in var.plcs : {
          key    = "${team}/${plc.id}"
          group  = g
          team   = team
          plc    = plc
          n      = t * length(var.plcs) + p
          modbus = var.modbus_port_base + t * length(var.plcs) + p
          mgmt   = var.mgmt_port_base + t * length(var.plcs) + p
        }
      ]
    ]
  ])

  token_path = "/etc/icsrange/mgmt.token"

  # `icsrange plc` arguments per slot: where it listens and its token,
  # then what icsrange rendered (var.plc_args). Ids, models and parameter
  # names are plain words (the scenario checker sees to that) and every
  # argument is one --name=value, so a space-separated line is safe to
  # hand to systemd's $ARGS splitting.
  args = {
    for s in local.slots : s.key => join(" ", concat([
      "--listen=0.0.0.0:${s.modbus}",
      "--mgmt=0.0.0.0:${s.mgmt}",
      "--token-file=${local.token_path}",
    ], var.plc_args[s.key]))
  }

  # SECURITY TRADE-OFF: the management token travels in user_data. Anyone
  # who may call ec2:DescribeInstanceAttribute on these instances, and any
  # process on an instance (through the instance metadata service), can
  # read it; it is also in the Terraform state (next to the token file
  # itself, in the exercise's data dir, so no new exposure there unless you
  # add a remote backend). Mitigations here: the token is new for every
  # exercise, IMDSv2 is required with a hop limit of 1, the instances run
  # nothing but the PLCs, and the management ports only accept engine_cidr.
  # Where that is not enough, keep the token in SSM Parameter Store
  # (SecureString) and fetch it at boot with an instance profile instead.
  token = trimspace(file(var.mgmt_token_file))

  user_data = [
    for g, teams in local.groups : <<-EOT
      #!/bin/bash
      # icsrange exercise ${var.exercise_id}, instance ${g}: the PLCs of ${join(", ", teams)}.
      set -euo pipefail

      install -d -m 0755 /opt/icsrange /etc/icsrange /etc/icsrange/plc
      for try in 1 2 3 4 5 6 7 8 9 10; do
        curl -fsSL --proto '=https' -o /opt/icsrange/icsrange.download '${var.binary_url}' && break
        sleep 6
      done
      echo '${var.binary_sha256}  /opt/icsrange/icsrange.download' | sha256sum -c -
      install -m 0755 /opt/icsrange/icsrange.download /opt/icsrange/icsrange
      rm -f /opt/icsrange/icsrange.download

      id -u icsrange >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /sbin/nologin icsrange
      install -m 0400 -o icsrange -g icsrange /dev/null ${local.token_path}
      cat > ${local.token_path} <<'TOKEN'
      ${local.token}
      TOKEN

      cat > /etc/systemd/system/icsrange-plc@.service <<'UNIT'
      [Unit]
      Description=icsrange PLC %i

      [Service]
      User=icsrange
      Group=icsrange
      EnvironmentFile=/etc/icsrange/plc/%i.env
      ExecStart=/opt/icsrange/icsrange plc $ARGS
      # No restart: a PLC that came back would be at its initial state
      # behind the engine's back; the engine should see it is gone.
      Restart=no
      NoNewPrivileges=yes
      CapabilityBoundingSet=
      ProtectSystem=strict
      ProtectHome=yes
      PrivateTmp=yes
      PrivateDevices=yes
      ProtectKernelTunables=yes
      ProtectKernelModules=yes
      ProtectControlGroups=yes
      RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
      MemoryMax=256M
      UNIT
      systemctl daemon-reload

      # One line per PLC: slot number, then its `icsrange plc` arguments.
      # Started, not enabled: after a reboot the PLCs stay down (they would
      # have lost their state anyway).
      while read -r n args; do
        printf 'ARGS=%s\n' "$args" > "/etc/icsrange/plc/$n.env"
        systemctl start "icsrange-plc@$n.service" </dev/null
      done <<'PLCS'
      ${join("\n", [for s in local.slots : "${s.n} ${local.args[s.key]}" if s.group == g])}
      PLCS
    EOT
  ]

  ami_id    = var.ami_id != null ? var.ami_id : data.aws_ami.al2023[0].id
  subnet_id = local.create_vpc ? aws_subnet.plant[0].id : var.subnet_id
  vpc_id    = local.create_vpc ? aws_vpc.plant[0].id : data.aws_subnet.given[0].vpc_id

  # Where the engine and trainees dial each instance.
  modbus_host = [for i in aws_instance.plant : coalesce(i.public_ip, i.private_ip)]
  mgmt_host   = [for i in aws_instance.plant : var.mgmt_via_private_ip ? i.private_ip : coalesce(i.public_ip, i.private_ip)]
}

data "aws_ami" "al2023" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-kernel-*-${var.architecture}"]
  }
  filter {
    name   = "architecture"
    values = [var.architecture]
  }
}

# The network, unless subnet_id is given.

data "aws_availability_zones" "available" {
  count = local.create_vpc && var.availability_zone == null ? 1 : 0
  state = "available"
}

resource "aws_vpc" "plant" {
  count = local.create_vpc ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = {
    Name = local.name
  }
}

resource "aws_internet_gateway" "plant" {
  count = local.create_vpc ? 1 : 0

  vpc_id = aws_vpc.plant[0].id

  tags = {
    Name = local.name
  }
}

resource "aws_subnet" "plant" {
  count = local.create_vpc ? 1 : 0

  vpc_id            = aws_vpc.plant[0].id
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, 0)
  availability_zone = var.availability_zone != null ? var.availability_zone : data.aws_availability_zones.available[0].names[0]

  tags = {
    Name = local.name
  }
}

resource "aws_route_table" "plant" {
  count = local.create_vpc ? 1 : 0

  vpc_id = aws_vpc.plant[0].id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.plant[0].id
  }

  tags = {
    Name = local.name
  }
}

resource "aws_route_table_association" "plant" {
  count = local.create_vpc ? 1 : 0

  subnet_id      = aws_subnet.plant[0].id
  route_table_id = aws_route_table.plant[0].id
}

data "aws_subnet" "given" {
  count = local.create_vpc ? 0 : 1
  id    = var.subnet_id
}

resource "aws_security_group" "plc" {
  name_prefix = "${local.name}-"
  description = "icsrange ${var.exercise_id}: Modbus from trainees, management API from the engine only"
  vpc_id      = local.vpc_id

  ingress {
    description = "Modbus/TCP from trainees and the engine"
    protocol    = "tcp"
    from_port   = var.modbus_port_base
    to_port     = var.modbus_port_base + local.per_instance - 1
    cidr_blocks = distinct(concat(var.trainee_cidrs, [var.engine_cidr]))
  }

  ingress {
    description = "icsrange management API from the engine only"
    protocol    = "tcp"
    from_port   = var.mgmt_port_base
    to_port     = var.mgmt_port_base + local.per_instance - 1
    cidr_blocks = [var.engine_cidr]
  }

  egress {
    description = "HTTPS, to download the icsrange binary"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = {
    Name = local.name
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = length(var.plcs) > 0
      error_message = "The plan has no PLCs."
    }
    precondition {
      condition     = min(var.modbus_port_base, var.mgmt_port_base) >= 1024 && max(var.modbus_port_base, var.mgmt_port_base) + local.per_instance - 1 <= 65535
      error_message = "The port ranges must lie within 1024..65535 (the PLCs run unprivileged)."
    }
    precondition {
      condition     = var.modbus_port_base + local.per_instance <= var.mgmt_port_base || var.mgmt_port_base + local.per_instance <= var.modbus_port_base
      error_message = "The Modbus and management port ranges overlap: move modbus_port_base or mgmt_port_base, or lower teams_per_instance."
    }
    precondition {
      condition     = !local.create_vpc || var.public_ip
      error_message = "The VPC this module makes has no NAT: without public_ip the instances cannot download the binary. Give subnet_id (a subnet with a NAT route) or set public_ip."
    }
  }
}

resource "aws_instance" "plant" {
  count = length(local.groups)

  ami                         = local.ami_id
  instance_type               = var.instance_type
  subnet_id                   = local.subnet_id
  vpc_security_group_ids      = [aws_security_group.plc.id]
  associate_public_ip_address = var.public_ip
  key_name                    = var.key_name
  iam_instance_profile        = var.iam_instance_profile

  # gzip keeps large plants under EC2's 16 KB user_data limit; cloud-init
  # unpacks it. A new plant layout means a new instance.
  user_data_base64            = base64gzip(local.user_data[count.index])
  user_data_replace_on_change = true

  # IMDSv2 only, and not from containers or forwarded hops: the token is in
  # the user data (see local.token).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted = true
  }

  tags = {
    Name             = "${local.name}-${count.index}"
    "icsrange:group" = tostring(count.index)
    "icsrange:teams" = substr(join(" ", local.groups[count.index]), 0, 255)
  }
}

# The instances are "running" well before cloud-init has downloaded the
# binary and started the PLCs, and the engine waits only 60 s for them:
# wait here until every PLC's management port answers (any HTTP answer,
# a 401 included, means the PLC is up).
resource "terraform_data" "ready" {
  count = var.wait_for_boot ? length(local.groups) : 0

  triggers_replace = [aws_instance.plant[count.index].id]

  provisioner "local-exec" {
    command = <<-EOT
      end=$(( $(date +%s) + ${var.boot_timeout_seconds} ))
      for ep in ${join(" ", [for s in local.slots : "${local.mgmt_host[count.index]}:${s.mgmt}" if s.group == count.index])}; do
        until curl -s -o /dev/null --max-time 5 "http://$ep/v1/health"; do
          if [ "$(date +%s)" -ge "$end" ]; then
            echo "Error: no PLC answered at $ep within ${var.boot_timeout_seconds} s; see the instance's system log (cloud-init)" >&2
            exit 1
          fi
          sleep 5
        done
      done
    EOT
  }
}
