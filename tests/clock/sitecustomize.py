"""Every Python process started with this folder on PYTHONPATH moves its wall clock by
IND_ALERT_CLOCK_SHIFT seconds (tests/midnight.py sets both): the same shift in the test process, the
scripts it starts and the fakes, so a run can cross Amsterdam midnight as one. Monotonic clocks and
sleeps are left alone.
"""

import os
import time

_shift = os.environ.get("IND_ALERT_CLOCK_SHIFT")
if _shift:
    import time_machine

    time_machine.travel(time.time() + float(_shift), tick=True).start()
