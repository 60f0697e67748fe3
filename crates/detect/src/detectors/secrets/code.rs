//! Secret detectors: source hosting, package registries, CI/CD and observability.
//!
//! GitHub, GitLab, package-registry and CI tokens almost all carry a fixed prefix; the few plain
//! ones (Datadog, Travis, legacy Sonar and Atlassian tokens) are reported only next to the
//! vendor's name.

use rampart_core::Severity;

use crate::detector::{Detector, Gate};
use crate::validate::not_placeholder;

use super::generic::{kw_token, specific_format, token};

/// A password in a NuGet config `<add key="Password" value="..."/>`: at least eight characters,
/// no placeholder and no `%VARIABLE%` reference.
fn nuget_password(v: &[u8]) -> bool {
    v.len() >= 8 && !(v.starts_with(b"%") && v.ends_with(b"%")) && not_placeholder(v)
}

/// An `.npmrc` auth token that is not one of the prefixed formats reported by their own
/// detectors, not a placeholder and not a variable reference.
fn npmrc_token(v: &[u8]) -> bool {
    !specific_format(v) && token(v)
}

/// Detectors of this group, in registry order.
pub static DETECTORS: &[Detector] = &[
    Detector::secret(
        "github_pat_classic",
        "GitHub personal access token (classic)",
        r"\b(?P<v>ghp_[A-Za-z0-9]{36})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitHub classic PATs: `ghp_` and 36 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GITHUB_TOKEN=ghp_T3ihFtXOOERFx9oM8xWB3WHNxByNaXBhcMNE", "git clone https://ghp_bAQapyjdvqbPgfSXC8RqMZOZDcZ9ZAKR2iy6@github.com/acme/app.git"],
        &["ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ghp_qLw7ZL0r8Udj3vDcCtlQvhrt5v3mcR", "ghp_1bPQRC6v4ERpJaWoKhf4qzsTuDCnG9c7UZ8FFvqa"],
    ),
    Detector::secret(
        "github_oauth_token",
        "GitHub OAuth access token",
        r"\b(?P<v>gho_[A-Za-z0-9]{36})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitHub OAuth app access tokens: `gho_` and 36 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["token: gho_1mtA2Fm8hVBDrGDO8tnHOoGumLMlaRlrJQby"],
        &["gho_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "gho_X8zAj2GQevsuxPzn6p84dixe06r8Od", "gho_W5TsBy1Q065c3yXjoyZgyW2B5OUd2YH9XxKLxT8a"],
    ),
    Detector::secret(
        "github_user_to_server_token",
        "GitHub App user-to-server token",
        r"\b(?P<v>ghu_[A-Za-z0-9]{36})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitHub App user-to-server tokens: `ghu_` and 36 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GH_USER_TOKEN=ghu_zUi6DbtjLJ7y6xylT991AhTsgH8UXxMjNK8D"],
        &["ghu_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ghu_C1P6c4L47bEQVKzPplombSjpDl1QvN", "ghu_t4fU2N90pIUXgOq4w7fEpMTJIDxIz6t4L5CAtOET"],
    ),
    Detector::secret(
        "github_server_to_server_token",
        "GitHub App installation token",
        r"\b(?P<v>ghs_[A-Za-z0-9]{36})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitHub App server-to-server (installation) tokens: `ghs_` and 36 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &[r#""token": "ghs_a7pDgEhADoEwssce1Hn9Go6Sq0iyuSDIpWyT""#],
        &["ghs_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ghs_sDFbuzT2e77UtYsommhmvJey8tFtM3", "ghs_uoYsQZadLX32a6QDAHbKJpM2H5YWOFRH8ZWTMHjV"],
    ),
    Detector::secret(
        "github_refresh_token",
        "GitHub refresh token",
        r"\b(?P<v>ghr_[A-Za-z0-9]{36})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitHub App refresh tokens: `ghr_` and 36 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["refresh_token=ghr_Sr6gAz7lJSbrLhu9NDG7cGObFfhh3brkE1Em"],
        &["ghr_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ghr_1XMMI5qsMsZ8NH3XFAznt13gUfvzGy", "ghr_QuOl8VEWzTvh19CMaIFJuwcbkMxmAKhobMQugdvb"],
    ),
    Detector::secret(
        "github_pat_fine_grained",
        "GitHub fine-grained personal access token",
        r"\b(?P<v>github_pat_[A-Za-z0-9_]{82})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitHub fine-grained PATs: `github_pat_` and 82 characters (22, `_`, 59).")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GH_TOKEN=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"],
        &["github_pat_xxxxxxxxxxxxxxxxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "github_pat_20sr15w6IcC8GPNR1mqSwA"],
    ),
    Detector::secret(
        "gitlab_pat",
        "GitLab personal access token",
        r"\b(?P<v>glpat-(?:[A-Za-z0-9_-]{20}|[A-Za-z0-9_-]{27,300}\.[a-z0-9]{2}[a-z0-9]{7}))(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab personal, project and group access tokens: `glpat-` and 20 characters, or the routable form with a `.`-separated suffix.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["GITLAB_TOKEN=glpat-x0OOhjz03TlRAOqSlbh1", "GITLAB_TOKEN=glpat-w__e8fnVrZEH7JosWO086pyACJBJ5qBVR4ixkal4.01417ux1e"],
        &["glpat-XXXXXXXXXXX-XXXXXXXX", "glpat-ofP4deGNem"],
    ),
    Detector::secret(
        "gitlab_deploy_token",
        "GitLab deploy token",
        r"\b(?P<v>gldt-[A-Za-z0-9_-]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab deploy tokens: `gldt-` and 20 url-safe characters.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["CI_DEPLOY_PASSWORD=gldt-gGsrj4YMlYLA_vXFRDOZ"],
        &["gldt-xxxxxxxxxxxxxxxxxxxx", "gldt-EiO7pC1B"],
    ),
    Detector::secret(
        "gitlab_runner_token",
        "GitLab runner authentication token",
        r"\b(?P<v>glrt-(?:[A-Za-z0-9_-]{20}|t\d_[A-Za-z0-9_-]{27,300}\.[a-z0-9]{9}))(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab runner authentication tokens: `glrt-` and 20 characters, or the routable `glrt-t1_...` form.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &[r#"token = "glrt-yun0oXgLsLvKMjANHEqe""#, r#"token = "glrt-t1_j0V6bo6e1hMTsYycxLB84SinrKUAsR.01noln6kg""#],
        &["glrt-xxxxxxxxxxxxxxxxxxxx", "glrt-tx_xxxxxxxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxx"],
    ),
    Detector::secret(
        "gitlab_runner_registration_token",
        "GitLab runner registration token",
        r"\b(?P<v>GR1348941[A-Za-z0-9_-]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Deprecated GitLab runner registration tokens: `GR1348941` and 20 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["REGISTRATION_TOKEN=GR1348941ys6t85c2KXgklilD2AxY"],
        &["GR134894112312312312312312312", "GR1348941XXXXXXXXXXXXXXXXXXXX"],
    ),
    Detector::secret(
        "gitlab_pipeline_trigger_token",
        "GitLab pipeline trigger token",
        r"\b(?P<v>glptt-[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab pipeline trigger tokens: `glptt-` and 40 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["curl -F token=glptt-171a592810d31bf9efa34ea0db3d28a7fbbe498c https://gitlab.com/api/v4/projects/1/trigger/pipeline"],
        &["glptt-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "glptt-15bd574c21d3f1d2c1c4"],
    ),
    Detector::secret(
        "gitlab_scim_token",
        "GitLab SCIM token",
        r"\b(?P<v>glsoat-[A-Za-z0-9_-]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab SCIM OAuth tokens: `glsoat-` and 20 url-safe characters.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SCIM_TOKEN=glsoat-BRxdtkDpByR28IJhcI2L"],
        &["glsoat-xxxxxxxxxxxxxxxxxxxx", "glsoat-gSdHUU10"],
    ),
    Detector::secret(
        "gitlab_oauth_app_secret",
        "GitLab OAuth application secret",
        r"\b(?P<v>gloas-[A-Za-z0-9_-]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab OAuth application secrets: `gloas-` and 64 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GITLAB_APP_SECRET=gloas-SvUhV3L2rmbIsjJ80VbiQi7Dxnf-S4ikad461G4zlc2Z-nE1GFam8cEOV9Z7YgOp"],
        &["gloas-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "gloas-csOT0IY_TKQOG0X2gcDg"],
    ),
    Detector::secret(
        "gitlab_feed_token",
        "GitLab feed token",
        r"\b(?P<v>glft-[A-Za-z0-9_-]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab feed tokens: `glft-` and 20 url-safe characters.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["https://gitlab.com/dashboard/projects.atom?feed_token=glft-mhDTJveaq5N6BPGhsUC4"],
        &["glft-xxxxxxxxxxxxxxxxxxxx", "glft-TRBF1FgJ"],
    ),
    Detector::secret(
        "gitlab_incoming_mail_token",
        "GitLab incoming mail token",
        r"\b(?P<v>glimt-[A-Za-z0-9_-]{25})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab incoming e-mail tokens: `glimt-` and 25 url-safe characters.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["incoming_email_token: glimt-I60T1EI7ZaG2-Mi3-AQVQr0KE"],
        &["glimt-xxxxxxxxxxxxxxxxxxxxxxxxx", "glimt-R2ssw04K"],
    ),
    Detector::secret(
        "gitlab_agent_token",
        "GitLab Kubernetes agent token",
        r"\b(?P<v>glagent-[A-Za-z0-9_-]{50})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab agent for Kubernetes tokens: `glagent-` and 50 url-safe characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["--set config.token=glagent-jBJKFwEXutfS8TwGEq3tRfdIkDMwC0zEQ8d3qreGC20OxKyOnj"],
        &["glagent-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "glagent-gy3LFnZYz7f142YSC5_j"],
    ),
    Detector::secret(
        "gitlab_ci_job_token",
        "GitLab CI/CD job token",
        r"\b(?P<v>glcbt-[A-Za-z0-9]{1,5}_[A-Za-z0-9_-]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab CI/CD job tokens: `glcbt-`, a short partition id, `_`, 20 url-safe characters.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["CI_JOB_TOKEN=glcbt-64_670XDn9fkRHoJNZuEl0F"],
        &["glcbt-64_xxxxxxxxxxxxxxxxxxxx", "glcbt-Gm22UaOL"],
    ),
    Detector::secret(
        "gitlab_feature_flag_token",
        "GitLab feature-flag client token",
        r"\b(?P<v>glffct-[A-Za-z0-9_-]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab feature flag client tokens: `glffct-` and 20 url-safe characters.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["UNLEASH_INSTANCE_ID=glffct-ZQ2alk4b9wwuV4xBmmCJ"],
        &["glffct-xxxxxxxxxxxxxxxxxxxx", "glffct-3bA324Ec"],
    ),
    Detector::secret(
        "gitlab_session_cookie",
        "GitLab session cookie",
        "_gitlab_session=(?P<v>[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("GitLab session cookies: `_gitlab_session=` and 32 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["Cookie: _gitlab_session=3d85ce9e6088afe41ba1012f11410303"],
        &["_gitlab_session=00000000000000000000000000000000", "_gitlab_session=da0c312f122dbc71"],
    ),
    Detector::secret(
        "bitbucket_app_password",
        "Bitbucket / Atlassian app password",
        r"\b(?P<v>ATBB[A-Za-z0-9_=.-]{28,40})(?:[^A-Za-z0-9_=.-]|$)",
    )
    .docs("Bitbucket app passwords: `ATBB` and 28-40 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["BITBUCKET_APP_PASSWORD=ATBB7upEPuSBADDPzkuL1gmwmWTNL2Bco1Eu"],
        &["ATBBxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ATBBMM369mgbea"],
    ),
    Detector::secret(
        "bitbucket_client_secret",
        "Bitbucket OAuth client secret",
        r#"(?i:bitbucket)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9_-]{32}|[A-Za-z0-9=_-]{64})(?:[^A-Za-z0-9=_-]|$)"#,
    )
    .docs("Bitbucket OAuth consumer secrets (32 or 64 characters) after `bitbucket` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["BITBUCKET_CLIENT_SECRET=DvewUcZiqTZHzehQvEtGrlKZwiyn2I9s"],
        &["BITBUCKET_CLIENT_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "BITBUCKET_WORKSPACE=acme-dev"],
    ),
    Detector::secret(
        "atlassian_api_token",
        "Atlassian API token",
        r"\b(?P<v>ATATT3[A-Za-z0-9_=-]{186})(?:[^A-Za-z0-9_=-]|$)",
    )
    .docs("Atlassian (Jira, Confluence) API tokens: `ATATT3` and 186 characters.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["JIRA_API_TOKEN=ATATT33RF4XGWa6eElleQJmlWkwZdmUGQs2SblL9YdvJhISKuwYBBWlLhokNqyZ9uD0flqrKyhE_SNPOZhFWLgOyBEVgw8pj1gwt69i-RCA1PfqWrXLda_k3pcrKmTM9eJxRhfAuRUUxVWUWk0bGJxu93493VvOHXz3OuY7LKQJVkmj8KvjVb3d=BDD4FD24"],
        &["ATATT3xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ATATT35wa2xXRL20VUVjpNAI5nsyZavhMhjVR4dFZSWXoh"],
    ),
    Detector::secret(
        "atlassian_api_token_legacy",
        "Atlassian API token (legacy)",
        r#"(?i:atlassian|confluence|jira)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{24})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older Atlassian API tokens: 24 alphanumerics after `jira`, `confluence` or `atlassian` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["JIRA_API_TOKEN=hl3eJBCdjgd8AMGZr7xc4JLD"],
        &["getPagesInConfluenceSpace,searchConfluenceUsingCql", "JIRA_API_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "npm_access_token",
        "npm access token",
        r"\b(?P<v>npm_[A-Za-z0-9]{36})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("npm access tokens: `npm_` and 36 alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["//registry.npmjs.org/:_authToken=npm_VXjpycH2X1sx2IRZPm3bFNPwVUiXb3N2dD6n", "NPM_TOKEN=npm_x4l6mzvMWSJRh7h8qH4gAPqOWhm2HCmEgfcK"],
        &["npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "npm_xB5t5O7VHU3rPjLaafRF"],
    ),
    Detector::secret(
        "npmrc_auth_token",
        "npm registry auth token (.npmrc)",
        r#":_auth(?:Token)?[ \t]{0,3}=[ \t]{0,3}["']?(?P<v>[A-Za-z0-9._~+/=-]{20,200})(?:[^A-Za-z0-9._~+/=-]|$)"#,
    )
    .docs("Registry credentials in `.npmrc` (`:_authToken=` / `:_auth=`) that are not one of the prefixed formats reported by their own detectors.")
    .validate(npmrc_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["//npm.pkg.acme.io/:_authToken=787eb009-701f-4b15-a87f-048cb2aeb318", "//registry.acme.io/:_auth=ZdCETGblY3jHnMvHAOnjwpojreCXCDr2GUYPPbZD"],
        &["//registry.npmjs.org/:_authToken=${NPM_TOKEN}", "//registry.npmjs.org/:_authToken=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "pypi_upload_token",
        "PyPI upload token",
        r"\b(?P<v>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,470})",
    )
    .docs("PyPI and TestPyPI API tokens: `pypi-` and a macaroon whose base64 starts with `AgEIcHlwaS5vcmc`.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["TWINE_PASSWORD=pypi-AgEIcHlwaS5vcmchHUCjg1vF-4joJhqg6NB4GQnUQ54SZ3jyBW1ySXeuUouZ0uedGpV9Raqq3Ew0AN_WSHSjz8gflDHcEUDZaDFkmYb1JQZeqRUrRyOmIZkkrupkNQMyEbPWl0vLlryKOE5hPKu_t4HiWChx-IeqhpiCOizYdO1ghbc"],
        &["pypi-AgEIcHlwaS5vcmcxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "pypi-AgEIcHlwaS5vcmcW3AZxGnQvaXsw9Zp33OY"],
    ),
    Detector::secret(
        "rubygems_api_key",
        "RubyGems API key",
        r"\b(?P<v>rubygems_[a-f0-9]{48})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("RubyGems API keys: `rubygems_` and 48 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["GEM_HOST_API_KEY=rubygems_fdf86b6524339219a05dfe89ecb4158dc8550829636ccd82"],
        &["rubygems_000000000000000000000000000000000000000000000000", "rubygems_959707656f1119b522a6"],
    ),
    Detector::secret(
        "nuget_api_key",
        "NuGet API key",
        r"\b(?P<v>oy2[a-z0-9]{43})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("nuget.org API keys: `oy2` and 43 lowercase alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["dotnet nuget push app.nupkg --api-key oy2nsvxfsr75ndo4kyrrbre0dsw0uzno4jyqz39e53crr1"],
        &["oy2xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "oy2n6v0niecvuiv27ng0pn7"],
    ),
    Detector::secret(
        "nuget_config_password",
        "NuGet config cleartext password",
        r#"<add key="(?:ClearText)?Password"\s{1,5}value="(?P<v>[^"\s]{1,128})""#,
    )
    .docs("Cleartext feed passwords in `nuget.config` (`<add key=\"ClearTextPassword\" value=\"...\"/>`), at least eight characters and not a `%VAR%` reference.")
    .validate(nuget_password)
    .score(0.8)
    .examples(
        &[r#"<add key="ClearTextPassword" value="fi2IN87LMYgWWd" />"#],
        &[r#"<add key="ClearTextPassword" value="abc" />"#, r#"<add key="ClearTextPassword" value="%FeedPassword%" />"#, r#"<add key="ClearTextPassword" value="XXXXXXXXXXX" />"#],
    ),
    Detector::secret(
        "dockerhub_pat",
        "Docker Hub access token",
        r"\b(?P<v>dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Docker Hub personal (`dckr_pat_`) and organization (`dckr_oat_`) access tokens.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["echo dckr_pat_RaiLw-EpmnoeY02HpOjvtyN0znh | docker login -u acme --password-stdin"],
        &["dckr_pat_xxxxxxxxxxxxxxxxxxxxxxxxxxx", "dckr_pat_zzq2OtyMis"],
    ),
    Detector::secret(
        "circleci_token",
        "CircleCI API token",
        r"\b(?P<v>CCIP(?:AT|RJ)_[A-Za-z0-9]{22}_[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("CircleCI personal (`CCIPAT_`) and project (`CCIPRJ_`) API tokens.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["CIRCLE_TOKEN=CCIPAT_cu8zWzeH5Rq8WxKRpUSMqf_40141bfb3460a7ab0d211f038b71fca43e459054"],
        &["CCIPAT_xxxxxxxxxxxxxxxxxxxxxx_0000000000000000000000000000000000000000", "CCIPAT_mmgjWTYKe9NgRWKCwpMFTo"],
    ),
    Detector::secret(
        "circleci_token_legacy",
        "CircleCI API token (legacy)",
        r#"(?i:circle(?:ci)?)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older CircleCI tokens: 40 hex digits after `circle` / `circleci` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["CIRCLECI_TOKEN=83a4dd1b4f404c09032bde91084250accef27383"],
        &["CIRCLECI_TOKEN=0000000000000000000000000000000000000000", "commit aa9e1028025425af77c7b85f9b4e04354ffb3508"],
    ),
    Detector::secret(
        "travis_ci_token",
        "Travis CI access token",
        r#"(?i:travis)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{22})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Travis CI API tokens: 22 alphanumerics after `travis` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["TRAVIS_API_TOKEN=I94HAYsjrjA1wT9zkfkT4M"],
        &["TRAVIS_API_TOKEN=xxxxxxxxxxxxxxxxxxxxxx", "TRAVIS_BRANCH=main"],
    ),
    Detector::secret(
        "buildkite_token",
        "Buildkite API token",
        r"\b(?P<v>bkua_[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Buildkite user API access tokens: `bkua_` and 40 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["BUILDKITE_API_TOKEN=bkua_36c4aeeeceaf852c838ade683c50578c93e93da3"],
        &["bkua_0000000000000000000000000000000000000000", "bkua_f44315f679558454d611"],
    ),
    Detector::secret(
        "drone_ci_token",
        "Drone CI token",
        r#"(?i:drone)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Drone CI personal tokens: 32 alphanumerics after `drone` in an assignment.")
    .validate(kw_token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["DRONE_TOKEN=OscAGcskxphRGwbL1h3WFs9Ku7yVsjd2"],
        &["DRONE_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "DRONE_SERVER=https://drone.acme.io"],
    ),
    Detector::secret(
        "jfrog_api_key",
        "JFrog Artifactory API key",
        r"\b(?P<v>AKCp[A-Za-z0-9]{69})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("JFrog Artifactory API keys: `AKCp` and 69 alphanumerics.")
    .validate(token)
    .entropy(4.5)
    .examples(
        &["ARTIFACTORY_API_KEY=AKCpyGZFehHfsimjCTSu564V4kfddRCwXgtXMsx0roQeQkOFPduiUXxOQy6xFy8aWJXZu12N1"],
        &["lowEntropy := AKCpXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "AKCpUXb3DFECtpMQKc0kQbV3lx2eQZT2Aa"],
    ),
    Detector::secret(
        "jfrog_reference_token",
        "JFrog reference token",
        r"\b(?P<v>cmVmd[A-Za-z0-9]{59})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("JFrog Artifactory reference tokens: `cmVmd` (base64 of \"ref\") and 59 alphanumerics.")
    .validate(token)
    .entropy(4.5)
    .examples(
        &["JFROG_ACCESS_TOKEN=cmVmdoLiBSrmx11ZguVxlKqmADICjPYYvsUUzkyDqRNK0b7y8R25iL2a3QMLR4Zs"],
        &["lowEntropy := cmVmdXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "cmVmdFmfvbTrV9WHhBmpyFOXY"],
    ),
    Detector::secret(
        "jfrog_identity_token",
        "JFrog identity token",
        r#"(?i:jfrog|artifactory|bintray)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{64}|[A-Za-z0-9]{73})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("JFrog identity tokens and API keys without their usual prefix (64 or 73 alphanumerics) after `jfrog` / `artifactory` in an assignment.")
    .validate(kw_token)
    .entropy(4.0)
    .score(0.8)
    .examples(
        &["ARTIFACTORY_TOKEN=NReXXaZhtbt57lF4fmxUh8rlH28ErabuWPtkP1Q4d7kWMgrqevwUSj9XzHjYXDUT"],
        &["ARTIFACTORY_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ARTIFACTORY_URL=https://acme.jfrog.io"],
    ),
    Detector::secret(
        "sonarqube_token",
        "SonarQube / SonarCloud token",
        r"\b(?P<v>sq[pua]_[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("SonarQube project (`sqp_`), user (`squ_`) and global analysis (`sqa_`) tokens: 40 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SONAR_TOKEN=squ_2053c347a9d179830c38660dc4cc77288ec3a17b", "sonar.login=sqp_d4cb92c1af002aed2d8e68c281c16267e302a0d9"],
        &["squ_0000000000000000000000000000000000000000", "squ_7f42cd4c2520dc1d5ab6"],
    ),
    Detector::secret(
        "sonarqube_token_legacy",
        "SonarQube token (legacy)",
        r#"(?i:sonar[_.-]?(?:login|token))[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older SonarQube tokens: 40 alphanumerics after `sonar.login` / `SONAR_TOKEN`.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["SONAR_TOKEN=1432445abcf5b8b5c3f2927205997129a87cf45d"],
        &["SONAR_TOKEN=0000000000000000000000000000000000000000", "sonar.login=admin"],
    ),
    Detector::secret(
        "sentry_org_token",
        "Sentry organization auth token",
        r"\b(?P<v>sntrys_eyJ[A-Za-z0-9+/]{20,400}={0,2}_[A-Za-z0-9+/]{43})(?:[^A-Za-z0-9+/]|$)",
    )
    .docs("Sentry organization tokens: `sntrys_`, base64 JSON with the org and region, `_`, 43 characters.")
    .validate(token)
    .entropy(4.0)
    .examples(
        &["SENTRY_AUTH_TOKEN=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"],
        &["sntrys_eyJxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "sntrys_eyJpYXQiOjE3MjkyNzg1"],
    ),
    Detector::secret(
        "sentry_user_token",
        "Sentry user auth token",
        r"\b(?P<v>sntryu_[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Sentry user auth tokens: `sntryu_` and 64 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SENTRY_AUTH_TOKEN=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"],
        &["sntryu_0000000000000000000000000000000000000000000000000000000000000000", "sntryu_25880f2fee9f26add5c9"],
    ),
    Detector::secret(
        "sentry_auth_token_legacy",
        "Sentry auth token (legacy)",
        r#"(?i:sentry)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{64})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older Sentry auth tokens: 64 hex digits after `sentry` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["SENTRY_AUTH_TOKEN=45654ecc18a089f3c5ccb093b6621bbfe9d4d2a4c0c2de2be0c67f93401daa92"],
        &["SENTRY_AUTH_TOKEN=0000000000000000000000000000000000000000000000000000000000000000", "SENTRY_DSN=https://public@o1.ingest.sentry.io/1"],
    ),
    Detector::secret(
        "postman_api_key",
        "Postman API key",
        r"\b(?P<v>PMAK-[a-f0-9]{24}-[a-f0-9]{34})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Postman API keys: `PMAK-`, 24 hex digits, `-`, 34 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["POSTMAN_API_KEY=PMAK-53f6d3fa84bba7f0ac7e5fde-4ff15eda1e3ca8d3e84d8d7a7325c3f5c4"],
        &["PMAK-000000000000000000000000-0000000000000000000000000000000000", "PMAK-9df7c00cc0897bb9a9489360"],
    ),
    Detector::secret(
        "grafana_cloud_token",
        "Grafana Cloud access token",
        r"\b(?P<v>glc_[A-Za-z0-9+/]{32,400}={0,2})(?:[^A-Za-z0-9+/=]|$)",
    )
    .docs("Grafana Cloud access policy tokens: `glc_` and base64.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GRAFANA_CLOUD_TOKEN=glc_c3FE6knsujK+r5W4Y7Oh/po78b1G/3kdv74QvCUSjNo6lpJbk5P6QZmo6v3Gx1iZJXwNiV/jR+8wE/mo3wtOenlgebOVUgOnakcHPbX2TJH3GehuoAGqtTDY=="],
        &[r#"API_KEY="glc_111111111111111111111111111111111111111111=""#, "glc_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"],
    ),
    Detector::secret(
        "grafana_service_account_token",
        "Grafana service account token",
        r"\b(?P<v>glsa_[A-Za-z0-9]{32}_[a-f0-9]{8})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Grafana service account tokens: `glsa_`, 32 alphanumerics, `_`, an 8-hex checksum.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["'Authorization': 'Bearer glsa_zGX6dpWUk4qDWcoQefJw0y6VIwL1lHwi_23063af5'"],
        &["glsa_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX_AAAAAAAA", "glsa_7tJO18jwrSZul4Ic9GNtW9W14qO8QqC5"],
    ),
    Detector::secret(
        "grafana_api_key",
        "Grafana API key (legacy)",
        r"\b(?P<v>eyJrIjoi[A-Za-z0-9]{70,400}={0,2})(?:[^A-Za-z0-9+/=]|$)",
    )
    .docs("Legacy Grafana API keys: base64 JSON starting `{\"k\":\"` (`eyJrIjoi`).")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["GRAFANA_API_KEY=eyJrIjoi1KX1Tbtf6Cd5gnqJVXhzksFe6lKMDQA8ao8nPRilhVTKDF4pxnG9yfy7uJeUXhDDwOyy7xmM5tTv90NF3rAP8fct3W=="],
        &["eyJrIjoixxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "eyJrIjoiK8cNXSdAOJqWH1XvAgRZ"],
    ),
    Detector::secret(
        "newrelic_user_api_key",
        "New Relic user API key",
        r"\b(?P<v>NRAK-[A-Z0-9]{27})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("New Relic user API keys: `NRAK-` and 27 uppercase alphanumerics.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["NEW_RELIC_API_KEY=NRAK-4QBG6E5XJW1SQV5XM1OL3DZI8CL"],
        &["NRAK-XXXXXXXXXXXXXXXXXXXXXXXXXXX", "NRAK-UZD7J2JDL6X7"],
    ),
    Detector::secret(
        "newrelic_insert_key",
        "New Relic insert key",
        r"\b(?P<v>NRII-[A-Za-z0-9_-]{32})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("New Relic Insights insert keys: `NRII-` and 32 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["NEW_RELIC_INSERT_KEY=NRII-X8Dd2PVSzcYjRWQLIWctF0-d0VdZdXPs"],
        &["NRII-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "NRII-bgIW0W8z55nd"],
    ),
    Detector::secret(
        "newrelic_browser_key",
        "New Relic browser ingest key",
        r"\b(?P<v>NRJS-[a-f0-9]{19})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("New Relic browser ingest keys: `NRJS-` and 19 hex digits (embedded in web pages, low severity).")
    .validate(token)
    .entropy(3.0)
    .score(0.7)
    .severity(Severity::Low)
    .examples(
        &[r#"NREUM.info={licenseKey:"NRJS-160e9720a56ad18e2d0"}"#],
        &["NRJS-0000000000000000000", "NRJS-a3d802f938"],
    ),
    Detector::secret(
        "newrelic_license_key",
        "New Relic ingest license key",
        r"\b(?P<v>[a-f0-9]{36}NRAL)(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("New Relic ingest license keys: 36 hex digits ending in `NRAL`.")
    .gate(Gate::Inner { literal: "NRAL", within: 36 })
    .validate(token)
    .entropy(3.0)
    .examples(
        &["NEW_RELIC_LICENSE_KEY=64ce68326e32cca848184a85939a70eee764NRAL"],
        &["000000000000000000000000000000000000NRAL", "b568a1bfe7ab407b9fa2NRAL"],
    ),
    Detector::secret(
        "datadog_api_key",
        "Datadog API / application key",
        r#"(?i:datadog|dd[_-]?api[_-]?key|dd[_-]?app(?:lication)?[_-]?key)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[a-f0-9]{32}|[a-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Datadog API keys (32 hex digits) and application keys (40 hex digits) after `datadog` or `DD_API_KEY` / `DD_APP_KEY`.")
    .validate(kw_token)
    .entropy(3.0)
    .examples(
        &["DD_API_KEY=c9986cb3a2ff6186805f36249d3db7fa", r#"datadog_app_key: "2dc9e41249f62e63e1880db28c8ae224f3bafd09""#],
        &["DD_API_KEY=00000000000000000000000000000000", "DD_SITE=datadoghq.eu"],
    ),
    Detector::secret(
        "splunk_hec_token",
        "Splunk HTTP Event Collector token",
        r#"(?i:splunk)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Splunk HEC tokens (UUIDs) after `splunk` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["SPLUNK_HEC_TOKEN=4ca8902d-6326-45ae-a34b-6bf029e528a3"],
        &["SPLUNK_HEC_TOKEN=00000000-0000-0000-0000-000000000000", "SPLUNK_INDEX=main"],
    ),
    Detector::secret(
        "dynatrace_api_token",
        "Dynatrace API token",
        r"\b(?P<v>dt0[cs]0\d\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Dynatrace API and platform tokens: `dt0c01.`, 24 characters, `.`, 64 characters.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["DT_API_TOKEN=dt0c01.72K9IGZC32GC32DIGGWG26RA.SCPM2MHTA4X7WO26UWR6UM3ZMOOAJ9A8EPZAFFOIA76OXD7XBBBZ7DJ96JLZQND1"],
        &["dt0c01.XXXXXXXXXXXXXXXXXXXXXXXX.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "dt0c01.ZNF6QXJJM07DC3VXNEZQLFTQ"],
    ),
    Detector::secret(
        "snyk_api_token",
        "Snyk API token",
        r#"(?i:snyk)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Snyk API tokens are UUIDs, reported after `snyk` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["SNYK_TOKEN=a86b92be-6b15-47e8-a23e-b08507aac02a"],
        &["SNYK_TOKEN=00000000-0000-0000-0000-000000000000", "snyk_org=mYMjfma1cB"],
    ),
    Detector::secret(
        "codecov_token",
        "Codecov upload token",
        r#"(?i:codecov)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Codecov upload tokens (UUIDs or 32 hex digits) after `codecov` in an assignment.")
    .validate(not_placeholder)
    .entropy(3.0)
    .examples(
        &["CODECOV_TOKEN=aaac8835-7ba6-468e-a15c-513c5cc32e2b"],
        &["CODECOV_TOKEN=00000000-0000-0000-0000-000000000000", "uuid=5ac78956-2bc5-414f-a555-e321841783fb"],
    ),
    Detector::secret(
        "sourcegraph_access_token",
        "Sourcegraph access token",
        r"\b(?P<v>sgp_(?:[A-Fa-f0-9]{16}|local)_[A-Fa-f0-9]{40}|sgp_[A-Fa-f0-9]{40})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Sourcegraph access tokens: `sgp_`, an optional instance id or `local`, and 40 hex digits.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["SRC_ACCESS_TOKEN=sgp_5709b3dd1f3c0a6e_1e8eebd5707609f9f160f2260fa2b413185f22ff", "SRC_ACCESS_TOKEN=sgp_local_e039a0cdeb3c640d1f77f3ecfbd52d9a3368bf77"],
        &["sgp_5555555dAAAAA7777777CcccCFaaaaaaaaaaaaaa", "sgp_91485283c614eedf6600"],
    ),
    Detector::secret(
        "sourcegraph_access_token_legacy",
        "Sourcegraph access token (legacy)",
        r#"(?i:sourcegraph)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Fa-f0-9]{40})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Older Sourcegraph access tokens: 40 hex digits after `sourcegraph` in an assignment.")
    .validate(kw_token)
    .entropy(3.0)
    .score(0.8)
    .examples(
        &["sourcegraph: 2c101d3e767e5559c5399fbd8977b44c065883a3"],
        &["sourcegraph: 0000000000000000000000000000000000000000", "commit 182d9084d8ec6d435c5549aa3404485ea8bb1325"],
    ),
    Detector::secret(
        "octopus_deploy_api_key",
        "Octopus Deploy API key",
        r"\b(?P<v>API-[A-Z0-9]{26})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Octopus Deploy API keys: `API-` and 26 uppercase alphanumerics (with digits).")
    .validate(token)
    .entropy(3.0)
    .score(0.75)
    .examples(
        &[r#"set apikey="API-PJE8UBEFK5CI3NP7ZH4KO8KLOO""#],
        &[r#"msgstr "GSSAPI-VIRHEKAPSELOINTIMERKKIJONO.""#, "API-QIERPHSV9R5O0NA8HSFIEC7NTTEHUA9N"],
    ),
    Detector::secret(
        "harness_api_key",
        "Harness access token",
        r"\b(?P<v>(?:pat|sat)\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20})(?:[^A-Za-z0-9_-]|$)",
    )
    .docs("Harness personal (`pat.`) and service-account (`sat.`) tokens: account id, token id and secret separated by dots.")
    .validate(token)
    .entropy(3.5)
    .examples(
        &["HARNESS_API_KEY=pat.CAJTK74IvekGKFPs8JbYIb.QX7BfknPsC1x8lli2CxCvsov.1jkHnrG9MS4WyDyj3uLD"],
        &["pat.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxx", "pat.9PZnzSGLOJFsF_cWSvRc_A.R563P5Hdtfwqi6JJGgIq3ERL"],
    ),
    Detector::secret(
        "jenkins_api_token",
        "Jenkins API token",
        r#"(?i:jenkins)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>11[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Jenkins API tokens: `11` and 32 hex digits, after `jenkins` in an assignment.")
    .validate(token)
    .entropy(3.0)
    .examples(
        &["JENKINS_API_TOKEN=11a71e204db134294854d7eb4ebd504ee2"],
        &["JENKINS_API_TOKEN=1100000000000000000000000000000000", "JENKINS_URL=https://ci.acme.io"],
    ),
    Detector::secret(
        "honeycomb_api_key",
        "Honeycomb API key",
        r#"(?i:honeycomb)[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>hc[a-z]ik_[a-z0-9]{58}|[A-Za-z0-9]{22}|[a-f0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Honeycomb ingest and configuration keys after `honeycomb` in an assignment.")
    .validate(token)
    .entropy(3.5)
    .score(0.8)
    .examples(
        &["HONEYCOMB_API_KEY=royH03wNGtXw1rnmxR3iPp", "HONEYCOMB_API_KEY=hcaik_evk097udbldvgpemo7qo2ycupdxcvns0n2z6xvpw47a31ekd0ricd2x46o"],
        &["HONEYCOMB_API_KEY=xxxxxxxxxxxxxxxxxxxxxx", "HONEYCOMB_DATASET=prod"],
    ),
    Detector::secret(
        "gradle_publish_secret",
        "Gradle Plugin Portal publishing secret",
        r#"(?i:gradle[_.-]publish[_.-](?:key|secret))[\w.-]{0,24}\\?["']?[ \t]{0,3}(?::=|=>|\?=|[=:(])[ \t]{0,3}\\?["'\x60]?(?P<v>[A-Za-z0-9]{32})(?:[^A-Za-z0-9_-]|$)"#,
    )
    .docs("Gradle Plugin Portal publishing keys and secrets (`gradle.publish.secret=`).")
    .validate(kw_token)
    .entropy(3.5)
    .examples(
        &["gradle.publish.secret=uNp3PY3WIJATxFxjv673F6IjS5q6bD4E"],
        &["gradle.publish.secret=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "gradle.publish.key=${KEY}"],
    ),
];
