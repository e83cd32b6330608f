package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// accessLogs makes the bucket the load balancer writes one line per
// request to (FSBP ELB.5): private, encrypted, kept logRetentionDays.
func accessLogs(ctx *pulumi.Context, name string, s spec.Spec, account string, parent pulumi.ResourceOption) (*s3.BucketV2, pulumi.Resource, error) {
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		// destroy removes the logs with the service they describe;
		// otherwise a stack could not be torn down.
		ForceDestroy: pulumi.Bool(true),
		Tags:         tags(ctx, name),
	}, parent,
		// The bucket's settings are separate resources below. BucketV2
		// still has the old inline properties, and a refresh (every
		// operation refreshes: Pulumi.yaml) writes what it reads into them,
		// after which an up may send them back over what the separate
		// resources set (pulumi-aws issues 3166 and 6244: lifecycle rules
		// lost after a refresh). Ignoring them keeps the separate
		// resources the only owners.
		pulumi.IgnoreChanges([]string{"lifecycleRules", "serverSideEncryptionConfigurations", "policy", "grants", "acl", "loggings", "versionings"}))
	if err != nil {
		return nil, nil, err
	}
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent); err != nil {
		return nil, nil, err
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		// No ACLs: the bucket policy alone says who may write.
		Rule: &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent); err != nil {
		return nil, nil, err
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		// S3-managed keys: the only encryption ALB log delivery supports.
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, parent); err != nil {
		return nil, nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:         pulumi.String("retention"),
			Status:     pulumi.String("Enabled"),
			Filter:     &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(s.LogRetentionDays)},
		}},
	}, parent); err != nil {
		return nil, nil, err
	}

	// The region's Elastic Load Balancing account delivers the logs.
	delivery, err := elb.GetServiceAccount(ctx, &elb.GetServiceAccountArgs{Region: pulumi.StringRef(s.Region)})
	if err != nil {
		return nil, nil, fmt.Errorf("look up the load balancer log delivery account of %s: %w", s.Region, err)
	}
	policy, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: bucket.Arn.ApplyT(func(arn string) string {
			return document(
				statement{
					Sid:       "LoadBalancerDelivers",
					Effect:    "Allow",
					Principal: map[string]any{"AWS": delivery.Arn},
					Action:    []string{"s3:PutObject"},
					Resource:  []string{fmt.Sprintf("%s/AWSLogs/%s/*", arn, account)},
				},
				statement{
					// Nothing reads or writes the logs over plain HTTP (FSBP S3.5).
					Sid:       "TLSOnly",
					Effect:    "Deny",
					Principal: map[string]any{"AWS": "*"},
					Action:    []string{"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"},
					Resource:  []string{arn, arn + "/*"},
					Condition: map[string]map[string]any{"Bool": {"aws:SecureTransport": "false"}},
				},
			)
		}).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	return bucket, policy, nil
}
