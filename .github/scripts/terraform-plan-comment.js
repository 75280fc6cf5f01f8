// Post one Terraform plan per environment to the pull request, updating the previous comment of
// the same environment instead of piling up new ones. Called by .github/workflows/terraform.yml
// through actions/github-script; tested by tests/deploy/test_workflows_scripts.py with node.
//
// Input: env.PLANS_DIR holds one folder per downloaded artifact, plan-<environment>/, each with
// plan.txt (`terraform show -no-color`) and plan-exitcode.txt (0 no changes, 2 changes).
'use strict';

const fs = require('fs');
const path = require('path');

// GitHub rejects comments above 65536 characters; keep room for the header and fences.
const MAX_PLAN_CHARS = 60000;

function marker(environment) {
  return `<!-- shipshape:terraform-plan:${environment} -->`;
}

function readPlans(plansDir) {
  if (!plansDir || !fs.existsSync(plansDir)) {
    return [];
  }
  return fs
    .readdirSync(plansDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && /^plan-[a-z0-9-]+$/.test(entry.name))
    .map((entry) => {
      const dir = path.join(plansDir, entry.name);
      const planFile = path.join(dir, 'plan.txt');
      const codeFile = path.join(dir, 'plan-exitcode.txt');
      return {
        environment: entry.name.slice('plan-'.length),
        plan: fs.existsSync(planFile) ? fs.readFileSync(planFile, 'utf8') : null,
        exitCode: fs.existsSync(codeFile) ? fs.readFileSync(codeFile, 'utf8').trim() : null,
      };
    })
    .sort((a, b) => a.environment.localeCompare(b.environment));
}

function renderBody({ environment, plan, exitCode }, runUrl) {
  const lines = [marker(environment), `### Terraform plan: \`${environment}\``, ''];
  if (plan === null) {
    lines.push(`No plan was produced (the plan job failed). See ${runUrl}.`);
    return lines.join('\n');
  }
  const summary = exitCode === '0' ? 'No changes.' : 'Changes to apply on merge (after approval for prod).';
  lines.push(summary, '');
  let text = plan;
  let truncated = false;
  if (text.length > MAX_PLAN_CHARS) {
    text = text.slice(text.length - MAX_PLAN_CHARS);
    truncated = true;
  }
  // A plan can contain backticks; a longer fence than any run inside it keeps the block closed.
  const longestRun = Math.max(2, ...(text.match(/`+/g) || []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  lines.push('<details><summary>terraform show</summary>', '');
  if (truncated) {
    lines.push(`_Truncated to the last ${MAX_PLAN_CHARS} characters; full plan in the run artifacts._`, '');
  }
  lines.push(`${fence}hcl`, text.replace(/\s+$/, ''), fence, '', '</details>', '', `Run: ${runUrl}`);
  return lines.join('\n');
}

module.exports = async function postPlans({ github, context, core, env }) {
  const plans = readPlans(env.PLANS_DIR);
  if (plans.length === 0) {
    core.warning('No Terraform plans to post.');
    return [];
  }
  const issueNumber = context.payload.pull_request && context.payload.pull_request.number;
  if (!issueNumber) {
    core.info('Not a pull request: nothing to comment on.');
    return [];
  }
  const { owner, repo } = context.repo;
  const existing = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  const posted = [];
  for (const plan of plans) {
    const body = renderBody(plan, env.RUN_URL || '');
    const previous = existing.find(
      (comment) => comment.user && comment.user.type === 'Bot' && comment.body.startsWith(marker(plan.environment)),
    );
    if (previous) {
      await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
      posted.push({ environment: plan.environment, action: 'updated', id: previous.id });
    } else {
      const { data } = await github.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body });
      posted.push({ environment: plan.environment, action: 'created', id: data.id });
    }
  }
  core.info(`Plan comments: ${JSON.stringify(posted)}`);
  return posted;
};

module.exports.renderBody = renderBody;
module.exports.readPlans = readPlans;
module.exports.MAX_PLAN_CHARS = MAX_PLAN_CHARS;
