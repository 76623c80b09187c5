# The inputs icsrange gives every module (the module contract).

variable "exercise_id" {
  description = "Exercise id; name and label everything with it."
  type        = string
}

variable "teams" {
  description = "Team names. Each team gets its own copy of the plant."
  type        = list(string)
}

variable "plcs" {
  description = "The PLCs of one plant: which there are and where they sit. How each runs is in plc_args."
  type = list(object({
    id    = string
    model = string
    zone  = string
  }))
}

variable "hosts" {
  description = "Attacker, workstation and HMI hosts of one plant."
  type = list(object({
    id      = string
    role    = string
    zone    = string
    address = string
  }))
  default = []
}

variable "plc_args" {
  description = "The `icsrange plc` arguments per \"team/plc\", rendered by icsrange: everything but where the PLC listens and its token file. Run `icsrange plc --listen ADDR --mgmt ADDR --token-file FILE` followed by them."
  type        = map(list(string))
}

variable "ports" {
  description = "Free TCP ports icsrange picked per \"team/plc\": modbus and mgmt. Modules that give each PLC its own address may ignore them."
  type        = map(object({ modbus = number, mgmt = number }))
}

variable "mgmt_token_file" {
  description = "File holding the management API token the PLCs must require."
  type        = string
}

variable "icsrange_binary" {
  description = "Path of the icsrange binary to run."
  type        = string
}

variable "work_dir" {
  description = "Directory for pid and log files (inside the exercise's data dir)."
  type        = string
}

# This module's own inputs. Set them in a terraform.tfvars or *.auto.tfvars
# file next to this module (icsrange copies .tfvars files along with the
# .tf files) or as TF_VAR_name environment variables. The AWS credentials
# come from the usual places (AWS_PROFILE, environment, instance role).
#
# This module ignores var.ports, var.icsrange_binary and var.work_dir: the
# PLCs run on EC2 instances, at a fixed port layout (see
# modbus_port_base), from the binary at binary_url.

variable "region" {
  description = "AWS region. null: the provider's default (AWS_REGION, the profile)."
  type        = string
  default     = null
}

variable "trainee_cidrs" {
  description = "Networks trainees connect from; only they reach the PLCs' Modbus ports."
  type        = list(string)

  validation {
    condition     = length(var.trainee_cidrs) > 0 && alltrue([for c in var.trainee_cidrs : can(cidrhost(c, 0))])
    error_message = "Give at least one trainee network, as CIDRs (e.g. 203.0.113.0/24)."
  }
}

variable "engine_cidr" {
  description = "Network the icsrange engine connects from (e.g. its public address as a /32); only it reaches the management APIs."
  type        = string

  validation {
    condition     = can(cidrhost(var.engine_cidr, 0)) && var.engine_cidr != "0.0.0.0/0"
    error_message = "engine_cidr must be a CIDR and not 0.0.0.0/0: the management API controls the PLCs."
  }
}

variable "binary_url" {
  description = "HTTPS URL of a static linux icsrange binary (make build) for the instances' architecture, e.g. a release asset or a presigned S3 URL."
  type        = string
}

variable "binary_sha256" {
  description = "SHA-256 (hex) of the binary at binary_url; the instances refuse a binary that does not match."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "binary_sha256 must be 64 lowercase hex digits (sha256sum bin/icsrange)."
  }
}

variable "teams_per_instance" {
  description = "Teams whose PLCs share one instance."
  type        = number
  default     = 10

  validation {
    condition     = var.teams_per_instance >= 1 && floor(var.teams_per_instance) == var.teams_per_instance
    error_message = "teams_per_instance must be a whole number >= 1."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the PLC instances; its architecture must match architecture."
  type        = string
  default     = "t3.small"
}

variable "architecture" {
  description = "CPU architecture of instance_type and of the binary: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI of the PLC instances (a systemd Linux with curl and sha256sum). null: the newest Amazon Linux 2023."
  type        = string
  default     = null
}

variable "subnet_id" {
  description = "Put the instances into this existing subnet. null: create a VPC (vpc_cidr) with one public subnet for the exercise."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR of the VPC created when subnet_id is null."
  type        = string
  default     = "10.77.0.0/16"
}

variable "availability_zone" {
  description = "Availability zone of the subnet created when subnet_id is null (instance_type must be offered there). null: the region's first."
  type        = string
  default     = null
}

variable "public_ip" {
  description = "Give the instances public addresses. Without one the outputs use private addresses (trainees and the engine then need a route into the VPC: VPN, peering)."
  type        = bool
  default     = true
}

variable "mgmt_via_private_ip" {
  description = "Put private addresses in the mgmt endpoints (the engine runs inside the VPC or reaches it over VPN)."
  type        = bool
  default     = false
}

variable "modbus_port_base" {
  description = "Modbus port of the first PLC on each instance; the n-th PLC (0-based, teams in order, then PLCs) listens on base + n."
  type        = number
  default     = 5020
}

variable "mgmt_port_base" {
  description = "Management API port of the first PLC on each instance; the n-th listens on base + n."
  type        = number
  default     = 9020
}

variable "key_name" {
  description = "EC2 key pair for SSH. null: none (no SSH rule is opened either way; use SSM Session Manager via iam_instance_profile)."
  type        = string
  default     = null
}

variable "iam_instance_profile" {
  description = "Instance profile for the instances (e.g. one allowing SSM Session Manager). null: none."
  type        = string
  default     = null
}

variable "wait_for_boot" {
  description = "Make apply wait until every PLC's management port answers (the engine's own readiness wait is short: 60 s). Needs bash on the machine running Terraform."
  type        = bool
  default     = true
}

variable "boot_timeout_seconds" {
  description = "How long apply waits for an instance's PLCs when wait_for_boot is set."
  type        = number
  default     = 600
}

variable "tags" {
  description = "Extra tags on everything this module makes."
  type        = map(string)
  default     = {}
}
