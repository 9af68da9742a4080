# EKS managed node groups for ragplane (the gpu-tp4-pp2 scenario): an LLM group of p5.48xlarge nodes
# (8 x H100; tensor parallel 4 x pipeline parallel 2 = one replica per node) and an encoder group of g6.2xlarge
# (1 x L4). The EKS-optimized NVIDIA AMI brings the driver and container toolkit; install the device plugin
# or the GPU operator with infra/gpu-operator/values-eks.yaml.
#
# The taints and labels are what the scenario's tolerations, nodeSelector and affinity match:
#   nvidia.com/gpu=true:NoSchedule, ragplane.io/pool=llm:NoSchedule, node.kubernetes.io/instance-type.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}

variable "cluster_name" {
  type        = string
  description = "Name of the existing EKS cluster."
}

variable "node_role_arn" {
  type        = string
  description = "IAM role of the worker nodes."
}

variable "llm_subnet_ids" {
  type        = list(string)
  description = "Private subnets in the zones with p5 capacity (ideally one zone, with a capacity reservation)."
}

variable "encoder_subnet_ids" {
  type        = list(string)
  description = "Private subnets for the encoder nodes."
}

variable "llm_max_nodes" {
  type        = number
  default     = 2
  description = "Upper bound of the LLM group (one tp4 x pp2 replica per node)."
}

resource "aws_eks_node_group" "llm_p5" {
  cluster_name    = var.cluster_name
  node_group_name = "ragplane-llm-p5"
  node_role_arn   = var.node_role_arn
  subnet_ids      = var.llm_subnet_ids
  ami_type        = "AL2023_x86_64_NVIDIA"
  capacity_type   = "ON_DEMAND"
  instance_types  = ["p5.48xlarge"]
  disk_size       = 1000

  scaling_config {
    min_size     = 0
    desired_size = 1
    max_size     = var.llm_max_nodes
  }

  update_config {
    max_unavailable = 1
  }

  labels = {
    "ragplane.io/pool" = "llm"
  }

  taint {
    key    = "nvidia.com/gpu"
    value  = "true"
    effect = "NO_SCHEDULE"
  }

  taint {
    key    = "ragplane.io/pool"
    value  = "llm"
    effect = "NO_SCHEDULE"
  }
}

resource "aws_eks_node_group" "encoders_g6" {
  cluster_name    = var.cluster_name
  node_group_name = "ragplane-encoders-g6"
  node_role_arn   = var.node_role_arn
  subnet_ids      = var.encoder_subnet_ids
  ami_type        = "AL2023_x86_64_NVIDIA"
  capacity_type   = "ON_DEMAND"
  instance_types  = ["g6.2xlarge"]
  disk_size       = 200

  scaling_config {
    min_size     = 1
    desired_size = 2
    max_size     = 6
  }

  update_config {
    max_unavailable = 1
  }

  labels = {
    "ragplane.io/pool" = "encoders"
  }

  taint {
    key    = "nvidia.com/gpu"
    value  = "true"
    effect = "NO_SCHEDULE"
  }
}
