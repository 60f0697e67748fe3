//! Calendar windows in UTC, computed the same way here and in the Redis scripts, so every
//! replica and the shared store agree on which minute, day or month a request falls in.

use rampart_policy::Window;

/// The window holding `now_s` (seconds since the epoch): its id (minutes, days or months since
/// the epoch) and the second it ends.
pub fn window(w: Window, now_s: u64) -> (u64, u64) {
    match w {
        Window::Minute => {
            let id = now_s / 60;
            (id, (id + 1) * 60)
        }
        Window::Day => {
            let id = now_s / 86_400;
            (id, (id + 1) * 86_400)
        }
        Window::Month => {
            let (y, m) = year_month(now_s / 86_400);
            let id = y * 12 + (m - 1);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (id, days_from_civil(ny, nm) * 86_400)
        }
    }
}

/// The code of a window in keys and scripts.
pub fn code(w: Window) -> &'static str {
    match w {
        Window::Minute => "m",
        Window::Day => "d",
        Window::Month => "M",
    }
}

/// Year and month (1..=12) of a day since 1970-01-01 (H. Hinnant's civil_from_days).
fn year_month(days: u64) -> (u64, u64) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as u64, m as u64)
}

/// Days since 1970-01-01 of the first day of month `m` of year `y` (days_from_civil).
fn days_from_civil(y: u64, m: u64) -> u64 {
    let y = y as i64 - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as u64
}

/// The same computation for the Redis scripts: `window(code, now_s)` returns id, end.
pub const LUA_WINDOW: &str = r#"
local function window(code, now_s)
  if code == 'm' then
    local id = math.floor(now_s / 60)
    return id, (id + 1) * 60
  elseif code == 'd' then
    local id = math.floor(now_s / 86400)
    return id, (id + 1) * 86400
  end
  local z = math.floor(now_s / 86400) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  local ny, nm = y, m + 1
  if m == 12 then ny, nm = y + 1, 1 end
  local yy = ny - (nm <= 2 and 1 or 0)
  local era2 = math.floor(yy / 400)
  local yoe2 = yy - era2 * 400
  local doy2 = math.floor((153 * (nm > 2 and nm - 3 or nm + 9) + 2) / 5)
  local doe2 = yoe2 * 365 + math.floor(yoe2 / 4) - math.floor(yoe2 / 100) + doy2
  return y * 12 + (m - 1), (era2 * 146097 + doe2 - 719468) * 86400
end
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_end_where_the_calendar_says() {
        // 2026-11-29T12:00:00Z
        let now = 1_795_953_600;
        let (id, end) = window(Window::Month, now);
        assert_eq!(id, 2026 * 12 + 10);
        assert_eq!(end, 1_796_083_200, "2026-12-01T00:00:00Z");
        // 2024-02-29 is in February; March starts 2024-03-01
        let leap = 1_709_164_800;
        let (id, end) = window(Window::Month, leap);
        assert_eq!(id, 2024 * 12 + 1);
        assert_eq!(end, 1_709_251_200);
        // December rolls the year
        let dec = 1_798_675_200; // 2026-12-31
        assert_eq!(window(Window::Month, dec), (2026 * 12 + 11, 1_798_761_600));
        assert_eq!(window(Window::Minute, 125), (2, 180));
        assert_eq!(window(Window::Day, 86_401), (1, 172_800));
    }
}
