package aws

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stayup/infra/spec"
)

// Identity is what the instances are and may do: a role, its instance
// profile, and the one log group the containers write to.
type Identity struct {
	pulumi.ResourceState

	Role *iam.Role
	// Policy is what the role may do; it must exist before an instance
	// tries to write its logs.
	Policy          *iam.RolePolicy
	InstanceProfile *iam.InstanceProfile
	LogGroup        *cloudwatch.LogGroup
}

func newIdentity(ctx *pulumi.Context, name string, s spec.Spec, at arns, opts ...pulumi.ResourceOption) (*Identity, error) {
	id := &Identity{}
	if err := ctx.RegisterComponentResource("stayup:aws:Identity", name, id, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(id)

	var err error
	id.LogGroup, err = cloudwatch.NewLogGroup(ctx, name+"-app", &cloudwatch.LogGroupArgs{
		// A fixed name per stack: the user data names it before the
		// instance exists, and people find their logs by it.
		Name:            pulumi.String(appLogGroupName(ctx)),
		RetentionInDays: pulumi.Int(s.LogRetentionDays),
		Tags:            tags(ctx, name+"-app"),
	}, parent)
	if err != nil {
		return nil, err
	}

	id.Role, err = iam.NewRole(ctx, name, &iam.RoleArgs{
		Description: pulumi.String("stayup instances: write their own logs, pull their own image"),
		AssumeRolePolicy: pulumi.String(document(statement{
			Effect:    "Allow",
			Principal: map[string]any{"Service": "ec2.amazonaws.com"},
			Action:    []string{"sts:AssumeRole"},
			// No source condition: EC2 assumes the role only for an
			// instance launched with its profile, and launching with it
			// takes iam:PassRole in this account.
		})),
		// Nothing attached from AWS's managed policies: each is broader
		// than what these instances do.
		Tags: tags(ctx, name),
	}, parent)
	if err != nil {
		return nil, err
	}

	id.Policy, err = iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role: id.Role.ID(),
		Policy: id.LogGroup.Arn.ApplyT(func(logGroupArn string) string {
			return document(instanceStatements(s, at, logGroupArn)...)
		}).(pulumi.StringOutput),
	}, parent)
	if err != nil {
		return nil, err
	}

	id.InstanceProfile, err = iam.NewInstanceProfile(ctx, name, &iam.InstanceProfileArgs{
		Role: id.Role.Name,
		Tags: tags(ctx, name),
	}, parent)
	if err != nil {
		return nil, err
	}
	return id, ctx.RegisterResourceOutputs(id, pulumi.Map{"roleArn": id.Role.Arn})
}

func appLogGroupName(ctx *pulumi.Context) string {
	return fmt.Sprintf("/stayup/%s/app", ctx.Stack())
}

// instanceStatements is everything an instance may do: write its
// container's logs, pull the image when it lives in ECR, and, when opted
// in, answer Session Manager.
func instanceStatements(s spec.Spec, at arns, logGroupArn string) []statement {
	st := []statement{{
		Sid:      "WriteOwnLogs",
		Effect:   "Allow",
		Action:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
		Resource: logGroupResources(logGroupArn),
	}}
	if repo, ok := parseECR(s.Image); ok {
		st = append(st,
			statement{
				// GetAuthorizationToken has no resource to scope to: the
				// token is per registry, the repository grants below are not.
				Sid:      "LogInToECR",
				Effect:   "Allow",
				Action:   []string{"ecr:GetAuthorizationToken"},
				Resource: "*",
			},
			statement{
				Sid:      "PullOwnImage",
				Effect:   "Allow",
				Action:   []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"},
				Resource: []string{repo.ARN(at.Partition)},
			})
	}
	if s.AWS.SessionManager {
		st = append(st,
			statement{
				// The agent registers the instance it runs on.
				Sid:      "SessionManagerRegister",
				Effect:   "Allow",
				Action:   []string{"ssm:UpdateInstanceInformation"},
				Resource: []string{at.of("ec2", "instance/*")},
			},
			statement{
				// The session channels take no resource: "*" is their only scope.
				Sid:    "SessionManagerChannels",
				Effect: "Allow",
				Action: []string{
					"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
					"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
				},
				Resource: "*",
			})
	}
	return st
}

// ecrRepo is an image that lives in an ECR private registry.
type ecrRepo struct {
	Account, Region, Repository string
	// Domain is amazonaws.com, or amazonaws.com.cn in the China regions.
	Domain string
}

var ecrRE = regexp.MustCompile(`^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?)/([^:@]+)`)

func parseECR(image string) (ecrRepo, bool) {
	m := ecrRE.FindStringSubmatch(image)
	if m == nil {
		return ecrRepo{}, false
	}
	return ecrRepo{Account: m[1], Region: m[2], Domain: m[3], Repository: m[4]}, true
}

// Registry is the host docker logs in to.
func (r ecrRepo) Registry() string {
	return fmt.Sprintf("%s.dkr.ecr.%s.%s", r.Account, r.Region, r.Domain)
}

// ARN names the repository in the stack's partition: an image is pulled
// from a registry of the partition the instances run in.
func (r ecrRepo) ARN(partition string) string {
	return fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, r.Region, r.Account, r.Repository)
}

// statement is one IAM policy statement.
type statement struct {
	Sid       string                    `json:"Sid,omitempty"`
	Effect    string                    `json:"Effect"`
	Principal map[string]any            `json:"Principal,omitempty"`
	Action    []string                  `json:"Action"`
	Resource  any                       `json:"Resource,omitempty"`
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// document renders an IAM policy document.
func document(statements ...statement) string {
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	if err != nil {
		panic(err) // only plain strings and maps go in
	}
	return string(b)
}

// logGroupResources is how IAM names one log group and its streams: the
// group's ARN, and the same with ":*" for the streams in it.
func logGroupResources(logGroupArn string) []string {
	return []string{logGroupArn, logGroupArn + ":*"}
}

// logGroupsIn turns a log group ARN into the ARN of every log group in
// its account and region.
func logGroupsIn(logGroupArn string) string {
	i := strings.Index(logGroupArn, ":log-group:")
	if i < 0 {
		return logGroupArn
	}
	return logGroupArn[:i] + ":log-group:*"
}
