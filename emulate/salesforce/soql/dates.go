package soql

import (
	"time"

	"github.com/billsync/billsync"
)

// dateLiterals lists SOQL's relative date literals; true means the literal
// takes ":n". Fiscal literals behave like calendar ones because an org's
// default fiscal year starts in January, and the emulator has no custom
// fiscal years.
var dateLiterals = map[string]bool{
	"YESTERDAY": false, "TODAY": false, "TOMORROW": false,
	"LAST_WEEK": false, "THIS_WEEK": false, "NEXT_WEEK": false,
	"LAST_MONTH": false, "THIS_MONTH": false, "NEXT_MONTH": false,
	"LAST_90_DAYS": false, "NEXT_90_DAYS": false,
	"THIS_QUARTER": false, "LAST_QUARTER": false, "NEXT_QUARTER": false,
	"THIS_YEAR": false, "LAST_YEAR": false, "NEXT_YEAR": false,
	"THIS_FISCAL_QUARTER": false, "LAST_FISCAL_QUARTER": false, "NEXT_FISCAL_QUARTER": false,
	"THIS_FISCAL_YEAR": false, "LAST_FISCAL_YEAR": false, "NEXT_FISCAL_YEAR": false,

	"LAST_N_DAYS": true, "NEXT_N_DAYS": true, "N_DAYS_AGO": true,
	"LAST_N_WEEKS": true, "NEXT_N_WEEKS": true, "N_WEEKS_AGO": true,
	"LAST_N_MONTHS": true, "NEXT_N_MONTHS": true, "N_MONTHS_AGO": true,
	"LAST_N_QUARTERS": true, "NEXT_N_QUARTERS": true, "N_QUARTERS_AGO": true,
	"LAST_N_YEARS": true, "NEXT_N_YEARS": true, "N_YEARS_AGO": true,
	"LAST_N_FISCAL_QUARTERS": true, "NEXT_N_FISCAL_QUARTERS": true, "N_FISCAL_QUARTERS_AGO": true,
	"LAST_N_FISCAL_YEARS": true, "NEXT_N_FISCAL_YEARS": true, "N_FISCAL_YEARS_AGO": true,
}

// dateRange is the half-open day range [start, end) a relative date literal
// stands for, computed in UTC (the emulated org's time zone) with weeks
// starting on Sunday (the en_US locale). The definitions follow "Date
// Formats and Date Literals" in the SOQL reference; note that LAST_N_DAYS:n
// includes today while NEXT_N_DAYS:n starts tomorrow.
func dateRange(l Literal, now time.Time) (start, end time.Time) {
	y, m, d := now.UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	week := today.AddDate(0, 0, -int(today.Weekday()))
	month := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	quarter := time.Date(y, time.Month((int(m)-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
	year := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	n := l.N
	days := func(s time.Time, k int) (time.Time, time.Time) { return s, s.AddDate(0, 0, k) }
	months := func(s time.Time, k int) (time.Time, time.Time) { return s, s.AddDate(0, k, 0) }

	switch l.Name {
	case "YESTERDAY":
		return days(today.AddDate(0, 0, -1), 1)
	case "TODAY":
		return days(today, 1)
	case "TOMORROW":
		return days(today.AddDate(0, 0, 1), 1)
	case "LAST_WEEK":
		return days(week.AddDate(0, 0, -7), 7)
	case "THIS_WEEK":
		return days(week, 7)
	case "NEXT_WEEK":
		return days(week.AddDate(0, 0, 7), 7)
	case "LAST_MONTH":
		return months(month.AddDate(0, -1, 0), 1)
	case "THIS_MONTH":
		return months(month, 1)
	case "NEXT_MONTH":
		return months(month.AddDate(0, 1, 0), 1)
	case "LAST_90_DAYS":
		return today.AddDate(0, 0, -90), today.AddDate(0, 0, 1)
	case "NEXT_90_DAYS":
		return days(today.AddDate(0, 0, 1), 90)
	case "THIS_QUARTER", "THIS_FISCAL_QUARTER":
		return months(quarter, 3)
	case "LAST_QUARTER", "LAST_FISCAL_QUARTER":
		return months(quarter.AddDate(0, -3, 0), 3)
	case "NEXT_QUARTER", "NEXT_FISCAL_QUARTER":
		return months(quarter.AddDate(0, 3, 0), 3)
	case "THIS_YEAR", "THIS_FISCAL_YEAR":
		return months(year, 12)
	case "LAST_YEAR", "LAST_FISCAL_YEAR":
		return months(year.AddDate(-1, 0, 0), 12)
	case "NEXT_YEAR", "NEXT_FISCAL_YEAR":
		return months(year.AddDate(1, 0, 0), 12)

	case "LAST_N_DAYS":
		return today.AddDate(0, 0, -n), today.AddDate(0, 0, 1)
	case "NEXT_N_DAYS":
		return days(today.AddDate(0, 0, 1), n)
	case "N_DAYS_AGO":
		return days(today.AddDate(0, 0, -n), 1)
	case "LAST_N_WEEKS":
		return week.AddDate(0, 0, -7*n), week
	case "NEXT_N_WEEKS":
		return days(week.AddDate(0, 0, 7), 7*n)
	case "N_WEEKS_AGO":
		return days(week.AddDate(0, 0, -7*n), 7)
	case "LAST_N_MONTHS":
		return month.AddDate(0, -n, 0), month
	case "NEXT_N_MONTHS":
		return months(month.AddDate(0, 1, 0), n)
	case "N_MONTHS_AGO":
		return months(month.AddDate(0, -n, 0), 1)
	case "LAST_N_QUARTERS", "LAST_N_FISCAL_QUARTERS":
		return quarter.AddDate(0, -3*n, 0), quarter
	case "NEXT_N_QUARTERS", "NEXT_N_FISCAL_QUARTERS":
		return months(quarter.AddDate(0, 3, 0), 3*n)
	case "N_QUARTERS_AGO", "N_FISCAL_QUARTERS_AGO":
		return months(quarter.AddDate(0, -3*n, 0), 3)
	case "LAST_N_YEARS", "LAST_N_FISCAL_YEARS":
		return year.AddDate(-n, 0, 0), year
	case "NEXT_N_YEARS", "NEXT_N_FISCAL_YEARS":
		return months(year.AddDate(1, 0, 0), 12*n)
	case "N_YEARS_AGO", "N_FISCAL_YEARS_AGO":
		return months(year.AddDate(-n, 0, 0), 12)
	}
	// Unreachable for parsed literals; an empty range matches nothing.
	return today, today
}

func dateTime(d billsync.Date) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}
